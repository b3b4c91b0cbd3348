using System.Collections.Concurrent;
using System.Net;
using System.Text;
using KruxOS.Network;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KruxOS.Gateway.Tests.Network;

/// <summary>
/// The name resolution the network specs control: what each name resolves to, per lookup (so a name can resolve to
/// one address and then another), and every name asked for. Unknown names resolve to nothing.
/// </summary>
public sealed class ScriptedResolver : IHostResolver
{
    private readonly ConcurrentDictionary<string, Func<int, IPAddress[]>> _names = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _lookups = new(StringComparer.Ordinal);

    public void Map(string name, params IPAddress[] addresses) => _names[name] = _ => addresses;

    public void Map(string name, Func<int, IPAddress[]> byLookup) => _names[name] = byLookup;

    /// <summary>How many times <paramref name="name"/> was resolved.</summary>
    public int Lookups(string name) => _lookups.TryGetValue(name, out var n) ? n : 0;

    public Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        var n = _lookups.AddOrUpdate(host, 1, (_, v) => v + 1);
        return Task.FromResult<IReadOnlyList<IPAddress>>(_names.TryGetValue(host, out var f) ? f(n) : []);
    }
}

/// <summary>A request a loopback server received.</summary>
public sealed record SeenRequest(string Server, string Method, string Path, string Host, string? Authorization);

/// <summary>
/// An HTTP server on a loopback address for the network specs (Kestrel, port chosen at runtime, or a given one). It
/// records every request and answers:
/// <c>/hello</c> (text), <c>/named</c> (its own name), <c>/redirect?to=URL</c> (302), <c>/chain?left=N</c> (N more
/// redirects, then 200), <c>/big?n=N[&amp;chunked=1]</c> (N bytes), <c>/echo</c> (the request's Authorization header
/// and query, in the body and in a response header), <c>/echo-redirect</c> (302 to a location carrying the query),
/// <c>/file?text=T</c> (T as a file).
/// </summary>
public sealed class LoopbackServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LoopbackServer(WebApplication app, string name, int port)
    {
        _app = app;
        Name = name;
        Port = port;
    }

    public string Name { get; }
    public int Port { get; }
    public static ConcurrentQueue<SeenRequest> Seen { get; } = new();

    public static async Task<LoopbackServer> StartAsync(string name, IPAddress address, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, port));
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            Seen.Enqueue(new SeenRequest(name, context.Request.Method, context.Request.Path + context.Request.QueryString,
                context.Request.Host.Value ?? "", context.Request.Headers.Authorization.FirstOrDefault()));
            await next(context);
        });
        app.MapGet("/hello", () => "hello from " + name);
        app.MapGet("/named", () => name);
        app.MapGet("/redirect", (HttpContext c) => Results.Redirect(c.Request.Query["to"].ToString()));
        app.MapGet("/chain", (HttpContext c) =>
        {
            var left = int.Parse(c.Request.Query["left"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            return left == 0 ? Results.Text("end of chain") : Results.Redirect($"/chain?left={left - 1}");
        });
        app.MapGet("/big", async (HttpContext c) =>
        {
            var n = int.Parse(c.Request.Query["n"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            if (c.Request.Query["chunked"] != "1") c.Response.ContentLength = n;
            var block = Encoding.ASCII.GetBytes(new string('x', 4096));
            for (var sent = 0; sent < n; sent += block.Length)
                await c.Response.Body.WriteAsync(block.AsMemory(0, Math.Min(block.Length, n - sent)));
        });
        app.MapGet("/echo", (HttpContext c) =>
        {
            var auth = c.Request.Headers.Authorization.ToString();
            c.Response.Headers["X-Echo"] = auth;
            return Results.Text($"{{\"authorization\":\"{auth}\",\"query\":\"{c.Request.QueryString}\",\"url\":\"http://{c.Request.Host}{c.Request.Path}{c.Request.QueryString}\"}}", "application/json");
        });
        app.MapGet("/echo-redirect", (HttpContext c) => Results.Redirect("/echo" + c.Request.QueryString));
        app.MapGet("/file", (HttpContext c) => Results.Bytes(Encoding.UTF8.GetBytes(c.Request.Query["text"].ToString()), "application/octet-stream"));
        await app.StartAsync();
        var bound = port != 0 ? port : new Uri(app.Urls.First()).Port;
        return new LoopbackServer(app, name, bound);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
