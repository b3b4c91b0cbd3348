using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.Core.Control;
using KruxOS.Testing;

namespace KruxOS.Dashboard.Tests.Support;

/// <summary>A browser-like HTTPS client of a test gateway's dashboard: a cookie jar, the gateway's CA only, no automatic redirects.</summary>
public sealed partial class DashboardClient : IDisposable
{
    private readonly HttpClient _http;

    public DashboardClient(TestGateway gateway)
    {
        Gateway = gateway;
        Cookies = new CookieContainer();
        _http = new HttpClient(new SocketsHttpHandler
        {
            CookieContainer = Cookies,
            UseCookies = true,
            AllowAutoRedirect = false,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = TestTls.TrustOnly(gateway.Authority) },
        })
        { BaseAddress = gateway.Dashboard, Timeout = TestTimeouts.Process };
    }

    public TestGateway Gateway { get; }
    public CookieContainer Cookies { get; }

    /// <summary>The dashboard's own origin, as a browser on it sends.</summary>
    public string Origin => $"https://127.0.0.1:{Gateway.DashboardPort}";

    /// <summary>Creates a user token of <paramref name="role"/> and returns it.</summary>
    public static async Task<string> UserTokenAsync(TestGateway gateway, string label, string role = "operator") =>
        (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = label, ["role"] = role }))["token"]!.GetValue<string>();

    public Task<HttpResponseMessage> GetAsync(string path) => _http.GetAsync(path);

    public async Task<string> TextAsync(string path) => await (await _http.GetAsync(path)).Content.ReadAsStringAsync();

    /// <summary>Posts the sign-in form as the sign-in page does (its hidden anti-forgery value, this origin).</summary>
    public async Task<HttpResponseMessage> SignInAsync(string token, string? origin = null, string next = "/approvals")
    {
        var page = await TextAsync("/signin");
        var csrf = HiddenCsrf().Match(page).Groups[1].Value;
        return await PostFormAsync("/signin", new() { ["_csrf"] = csrf, ["token"] = token, ["next"] = next }, origin ?? Origin);
    }

    public async Task<HttpResponseMessage> PostFormAsync(string path, Dictionary<string, string> form, string? origin)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
        if (origin is not null) request.Headers.Add("Origin", origin);
        return await _http.SendAsync(request);
    }

    /// <summary>The session's anti-forgery token, read from a signed-in page.</summary>
    public async Task<string> CsrfAsync()
    {
        var page = await TextAsync("/overview");
        var m = MetaCsrf().Match(page);
        if (!m.Success) throw new InvalidOperationException("not signed in: " + page[..Math.Min(200, page.Length)]);
        return WebUtility.HtmlDecode(m.Groups[1].Value);
    }

    /// <summary>A JSON API call; <paramref name="csrf"/> and <paramref name="origin"/> as a page's script would send them.</summary>
    public async Task<(HttpStatusCode Status, JsonNode? Body)> ApiAsync(HttpMethod method, string path, JsonObject? body = null, string? csrf = null, string? origin = null,
        string? bearer = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null || method != HttpMethod.Get) request.Content = new StringContent((body ?? []).ToJsonString(), Encoding.UTF8, "application/json");
        if (csrf is not null) request.Headers.Add("X-CSRF-Token", csrf);
        if (origin is not null) request.Headers.Add("Origin", origin);
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>Posts <paramref name="body"/> as it is (e.g. malformed JSON) from this origin with <paramref name="csrf"/>.</summary>
    public async Task<(HttpStatusCode Status, string Text)> RawAsync(string path, string body, string csrf)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-CSRF-Token", csrf);
        request.Headers.Add("Origin", Origin);
        using var response = await _http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The session cookie's value, if any.</summary>
    public string? SessionCookie => Cookies.GetCookies(Gateway.Dashboard).FirstOrDefault(c => c.Name == "__Host-kruxos_session")?.Value;

    public void Dispose() => _http.Dispose();

    [GeneratedRegex("name=\"_csrf\" value=\"([^\"]+)\"")]
    private static partial Regex HiddenCsrf();

    [GeneratedRegex("<meta name=\"csrf-token\" content=\"([^\"]+)\">")]
    private static partial Regex MetaCsrf();
}
