using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Admin;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Admin;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Control;

namespace KruxOS.Gateway.Endpoints;

/// <summary>
/// The vault on the User API (for the dashboard): <c>GET /api/vault</c> (status) and <c>GET /api/vault/secrets</c>
/// (<c>?include_revoked=true</c>) for user tokens of either role; <c>POST /api/vault/{init,unlock,lock}</c> and
/// <c>POST /api/vault/secrets</c>, <c>…/secrets/{name}/rotate</c>, <c>…/secrets/{name}/revoke</c> for operator tokens
/// only (403 otherwise). Bodies are JSON objects with the control socket's parameters. No answer ever holds a value or a
/// passphrase.
/// </summary>
public static class VaultApi
{
    /// <summary>The largest body accepted (a value is at most 16 KiB; JSON escaping can multiply it by six).</summary>
    public const int MaxBodyBytes = 128 * 1024;

    /// <summary>Maps the routes on the (already authenticated) User API group.</summary>
    public static void MapVaultApi(this RouteGroupBuilder api)
    {
        api.MapGet("/vault", (VaultControl vault, HttpContext http) => RunAsync(http, null, p => vault.StatusAsync(p, http.RequestAborted), operatorOnly: false));
        api.MapGet("/vault/secrets", (VaultControl vault, HttpContext http, bool? include_revoked) =>
            RunAsync(http, new JsonObject { ["include_revoked"] = include_revoked ?? false }, p => vault.ListAsync(p, http.RequestAborted), operatorOnly: false));
        api.MapPost("/vault/init", (VaultControl vault, HttpContext http) => RunAsync(http, null, p => vault.InitAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/vault/unlock", (VaultControl vault, HttpContext http) => RunAsync(http, null, p => vault.UnlockAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/vault/lock", (VaultControl vault, HttpContext http) => RunAsync(http, null, p => vault.LockAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/vault/secrets", (VaultControl vault, HttpContext http) => RunAsync(http, null, p => vault.AddAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/vault/secrets/{name}/rotate", (VaultControl vault, HttpContext http, string name) =>
            RunAsync(http, new JsonObject { ["name"] = name }, p => vault.RotateAsync(p, By(http), http.RequestAborted)));
        api.MapPost("/vault/secrets/{name}/revoke", (VaultControl vault, HttpContext http, string name) =>
            RunAsync(http, new JsonObject { ["name"] = name }, p => vault.RevokeAsync(p, By(http), http.RequestAborted)));
    }

    /// <summary>The User API caller as the audit names it: <c>user:&lt;label&gt;</c> of the authenticated user token.</summary>
    public static string By(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        return KruxOS.Core.Approvals.ApprovalDecider.UserApi(caller.UserToken!, caller.Minted).DecidedBy;
    }

    private static async Task<IResult> RunAsync(HttpContext http, JsonObject? fixedParams, Func<JsonObject, Task<(JsonNode?, AdminError?)>> run,
        bool operatorOnly = true)
    {
        var caller = (AuthenticatedCaller)http.Items["kruxos.caller"]!;
        if (operatorOnly && caller.Role != CredentialRole.Operator)
            return AdminHttp.Error(new AdminError(AdminErrorKind.Forbidden, "Forbidden", "changing the vault needs an operator token"));
        return await ExecuteAsync(http, fixedParams, run).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the body (a JSON object of at most <see cref="MaxBodyBytes"/>; none is an empty object), sets
    /// <paramref name="fixedParams"/> over it, runs <paramref name="run"/> and answers its result or error. Nothing of the
    /// body (a value, a passphrase) ever appears in an answer: malformed input gets a fixed message. Shared by the User
    /// API and the dashboard's <c>/api</c>, whose callers are authenticated and authorised before this.
    /// </summary>
    public static async Task<IResult> ExecuteAsync(HttpContext http, JsonObject? fixedParams, Func<JsonObject, Task<(JsonNode?, AdminError?)>> run)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(run);
        var p = new JsonObject();
        if (http.Request.Method == HttpMethods.Post && http.Request.ContentLength is not 0)
        {
            if (http.Request.ContentLength > MaxBodyBytes)
                return AdminHttp.Error(AdminErrors.InvalidInput($"the body must be at most {MaxBodyBytes} bytes"));
            try
            {
                var body = await JsonSerializer.DeserializeAsync<JsonObject>(new LimitedStream(http.Request.Body, MaxBodyBytes), cancellationToken: http.RequestAborted)
                    .ConfigureAwait(false);
                if (body is not null) p = body;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or IOException)
            {
                return AdminHttp.Error(AdminErrors.InvalidInput("the body must be a JSON object"));
            }
        }
        foreach (var (key, value) in fixedParams ?? []) p[key] = value?.DeepClone();
        try
        {
            var (result, error) = await run(p).ConfigureAwait(false);
            return error is null ? AdminHttp.Json(result!) : AdminHttp.Error(error);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            return AdminHttp.Error(AdminErrors.InvalidInput("a parameter has the wrong type"));
        }
    }

    // Reads at most a bound, then fails: a body without a length cannot exhaust memory.
    private sealed class LimitedStream(Stream inner, long limit) : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int n)
        {
            _read += n;
            if (_read > limit) throw new IOException("body too large");
            return n;
        }
    }
}
