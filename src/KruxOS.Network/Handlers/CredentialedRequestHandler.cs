using System.Text;
using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;
using KruxOS.Core.Vault;
using KruxOS.Vault;
using KruxOS.Vault.Scrubbing;

namespace KruxOS.Network.Handlers;

/// <summary>
/// <c>network.credentialed_request</c>: a request with a vault secret placed in a header or the query, which the agent
/// uses but never reads (spec §8.10, §10.3). In order:
/// <list type="number">
/// <item>the URL and the placement are validated (a placement header the agent also gives is a <c>ScopeViolation</c>);</item>
/// <item>the destination is decided by the egress policy (name, resolved addresses) before the secret is looked at;</item>
/// <item>the vault resolves the secret for this capability and host, and audits the resolution, granted or refused
/// (<see cref="ISecretAccess"/>); a refusal is <c>HostNotAllowed</c>, <c>VaultLocked</c> or <c>SecretNotFound</c>;</item>
/// <item>the request goes to the checked address; the credential goes only to the origin it was resolved for (a
/// redirect elsewhere drops it, and one whose location carries it is not followed);</item>
/// <item>everything returned — header values, body, final URL, error messages — is scrubbed of the value in every form
/// <see cref="SecretScrubber"/> knows, each replaced by <c>[REDACTED]</c>.</item>
/// </list>
/// A node without a vault (<see cref="ISecretAccess"/> not registered) refuses every call with <c>VaultLocked</c>.
/// </summary>
[Capability("network.credentialed_request")]
public sealed class CredentialedRequestHandler(EgressClient client, ISecretAccess? secrets = null) : ICapabilityHandler
{
    /// <inheritdoc />
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var target = RequestInputs.Target(arguments);
        var method = RequestInputs.Method(arguments, allowOptions: false);
        var headers = RequestInputs.Headers(arguments);
        var body = RequestInputs.Body(arguments);
        var placement = Placement.From(arguments);
        if (placement.Type == PlacementType.Header && headers.Any(h => h.Key.Equals(placement.Name, StringComparison.OrdinalIgnoreCase)))
            throw new CapabilityException(Placement.Violation($"the header '{placement.Name}' is where the credential goes; do not give it in headers"));
        var secretName = RequestInputs.Str(arguments, "secret_name") ?? string.Empty;
        var timeout = TimeSpan.FromSeconds(RequestInputs.Seconds(arguments, "timeout", 30));
        var allowlist = context.Policy.Egress(context.Principal);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        // 1. The destination, decided before the secret is looked at (its refusal is audited by the vault as egress_denied).
        EgressDecision egress;
        try { egress = await client.DecideAsync(target, allowlist, deadline.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CapabilityException(NetworkErrors.RequestFailed($"resolving '{target.Host}' timed out", retryable: true));
        }
        if (egress.Refusal == EgressRefusal.NoAddress) throw new CapabilityException(egress.ToError());
        if (secrets is null) throw new CapabilityException(VaultErrors.VaultLocked());

        // 2. The secret, for this capability and this host; every resolution is audited by the vault.
        var use = new SecretUseContext(context.Session.Agent, context.Session.SessionId,
            new SecretUseRequest(secretName, context.Capability.Name, SecretDestination.From(egress)));
        using var resolution = await secrets.ResolveAsync(use, deadline.Token).ConfigureAwait(false);
        if (!resolution.Granted)
            throw new CapabilityException(resolution.Decision.AgentError ?? VaultErrors.SecretNotFound(secretName));
        var value = resolution.Value!;
        using var scrubber = SecretScrubber.For(value);
        Func<string, string> scrub = scrubber.Scrub;

        // 3. The credential where the placement says, and only there.
        var (credential, url) = value.Use((placement, target, scrubber), static (bytes, s) => s.placement.Apply(bytes, s.target, s.scrubber));
        target = url;
        var request = new EgressRequest(target, method, headers, body, FollowRedirects: true, allowlist, credential);
        return await Requests.GuardedAsync(timeout, "the request", scrub, cancellationToken, async (ct, clock) =>
        {
            using var response = await client.SendAsync(request, RefusalWording.Host, ct).ConfigureAwait(false);
            var bytes = method == "HEAD" ? [] : await EgressClient.ReadCappedAsync(response.Response, client.Options.MaxResponseBytes, ct).ConfigureAwait(false);
            return new CapabilityOutput(RequestInputs.Output(response, bytes, clock.ElapsedMilliseconds, scrub));
        }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public TimeSpan MaxDuration(JsonElement arguments) => RequestInputs.Deadline(RequestInputs.Seconds(arguments, "timeout", 30));

    private enum PlacementType { Header, Query }

    /// <summary>Where the credential goes: <c>{type: header|query, name, format}</c>, format containing <c>{secret}</c> once.</summary>
    private sealed record Placement(PlacementType Type, string Name, string Format)
    {
        private const string Slot = "{secret}";
        private static readonly Placement Default = new(PlacementType.Header, "Authorization", "Bearer {secret}");

        public static StructuredError Violation(string reason) =>
            StructuredError.Create("ScopeViolation", $"Invalid credential placement: {reason}")
                .WithRecovery("fix_input", "Give credential_placement {type: header|query, name, format with {secret} once}, and no header of that name.")
                .WithContext("reason", reason);

        public static Placement From(JsonElement arguments)
        {
            if (!arguments.TryGetProperty("credential_placement", out var p) || p.ValueKind == JsonValueKind.Null) return Default;
            foreach (var field in p.EnumerateObject())
                if (field.Name is not ("type" or "name" or "format")) throw new CapabilityException(Violation($"unknown field '{field.Name}'"));
            var typeText = RequestInputs.Str(p, "type") ?? "header";
            var type = typeText switch
            {
                "header" => PlacementType.Header,
                "query" => PlacementType.Query,
                _ => throw new CapabilityException(Violation("type must be header or query")),
            };
            var name = RequestInputs.Str(p, "name") ?? (type == PlacementType.Header ? "Authorization" : throw new CapabilityException(Violation("a query placement needs a name")));
            var format = RequestInputs.Str(p, "format") ?? (type == PlacementType.Header && name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) ? "Bearer {secret}" : Slot);
            if (type == PlacementType.Header && !RequestInputs.IsToken(name)) throw new CapabilityException(Violation($"'{name}' is not a header name"));
            if (type == PlacementType.Header && (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)))
                throw new CapabilityException(Violation($"the credential cannot go in '{name}'"));
            if (type == PlacementType.Query && (name.Length is 0 or > 256 || name.Any(char.IsControl)))
                throw new CapabilityException(Violation("the query parameter name must be 1 to 256 characters without control characters"));
            var first = format.IndexOf(Slot, StringComparison.Ordinal);
            if (first < 0 || format.IndexOf(Slot, first + Slot.Length, StringComparison.Ordinal) >= 0)
                throw new CapabilityException(Violation("format must contain {secret} exactly once"));
            if (format.Length > 1024 || format.Any(c => char.IsControl(c) || c > '\u00ff'))
                throw new CapabilityException(Violation("format must be at most 1024 Latin-1 characters without control characters"));
            return new Placement(type, name, format);
        }

        // The credential for the request, and the URL to send (with the query parameter for a query placement).
        public (Credential Credential, EgressTarget Url) Apply(ReadOnlySpan<byte> secret, EgressTarget target, SecretScrubber scrubber)
        {
            var text = Encoding.UTF8.GetString(secret);
            bool Carries(string s) => !string.Equals(scrubber.Scrub(s), s, StringComparison.Ordinal);
            if (Type == PlacementType.Header)
            {
                // A value that could end the header (a line break) or is not Latin-1 cannot be sent as a header value.
                if (text.Any(c => char.IsControl(c) || c > '\u00ff'))
                    throw new CapabilityException(NetworkErrors.RequestFailed("the secret's value cannot be sent in a header (control or non-Latin-1 characters); ask the operator to check it"));
                return (new Credential(Name, Format.Replace(Slot, text, StringComparison.Ordinal), Carries), target);
            }
            var parameter = Uri.EscapeDataString(Name) + "=" + Uri.EscapeDataString(Format.Replace(Slot, text, StringComparison.Ordinal));
            var builder = new UriBuilder(target.Uri);
            builder.Query = builder.Query.Length > 1 ? builder.Query[1..] + "&" + parameter : parameter;
            if (!EgressPolicy.TryParseTarget(builder.Uri.AbsoluteUri, out var withQuery, out _) || withQuery.Origin != target.Origin)
                throw new CapabilityException(NetworkErrors.RequestFailed("the URL with the credential in its query is not valid (too long?)"));
            return (new Credential(null, null, Carries), withQuery);
        }
    }
}
