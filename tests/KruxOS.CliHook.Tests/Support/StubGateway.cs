using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace KruxOS.CliHook.Tests.Support;

/// <summary>An HTTP stack that answers every request with a canned response, and records what it was sent.</summary>
public sealed class StubGateway(Func<JsonObject, int, (HttpStatusCode Status, string Body)> answer) : HttpMessageHandler
{
    private int _count;

    public List<JsonObject> Requests { get; } = [];
    public List<string?> Authorizations { get; } = [];

    public static StubGateway Always(HttpStatusCode status, string body) => new((_, _) => (status, body));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = JsonNode.Parse(await request.Content!.ReadAsStringAsync(cancellationToken))!.AsObject();
        lock (Requests)
        {
            Requests.Add(body);
            Authorizations.Add(request.Headers.Authorization?.ToString());
        }
        Assert.Equal("/api/hook/decide", request.RequestUri!.AbsolutePath);
        var (status, text) = answer(body, Interlocked.Increment(ref _count));
        return new HttpResponseMessage(status) { Content = new StringContent(text, Encoding.UTF8, "application/json") };
    }
}

/// <summary>Runs <see cref="HookRunner"/> in-process with captured streams.</summary>
public static class Hook
{
    public const string Token = "krx_user_TestTokenValue0123456789";

    public sealed record Outcome(int ExitCode, string StdOut, string StdErr)
    {
        public JsonNode? Output => StdOut.Trim().Length == 0 ? null : JsonNode.Parse(StdOut);
        public string? Decision => Output?["hookSpecificOutput"]?["permissionDecision"]?.GetValue<string>();
        public string Reason => Output?["hookSpecificOutput"]?["permissionDecisionReason"]?.GetValue<string>() ?? "";
    }

    public static async Task<Outcome> RunAsync(byte[] stdin, string[] args, HttpMessageHandler? handler = null, string? token = Token,
        HookRunner.Minter? mint = null, IReadOnlyDictionary<string, string?>? extraEnv = null)
    {
        using var input = new MemoryStream(stdin);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var env = new Dictionary<string, string?> { ["KRUXOS_USER_TOKEN"] = token };
        foreach (var (k, v) in extraEnv ?? new Dictionary<string, string?>()) env[k] = v;
        var code = await HookRunner.RunAsync(args, k => env.GetValueOrDefault(k), input, stdout, stderr, handler, mint);
        return new Outcome(code, stdout.ToString(), stderr.ToString());
    }
}
