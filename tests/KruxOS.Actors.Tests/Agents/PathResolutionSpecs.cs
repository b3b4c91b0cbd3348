using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Agents;

/// <summary>
/// The session's side of ADR 0023, with a stand-in for the sandbox that resolves <c>link/…</c> to <c>/workspace/secret/…</c>:
/// a call a path rule looks at is decided, audited and executed on the resolved path; other calls are never resolved.
/// </summary>
public sealed class PathResolutionSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly CapabilityDefinition Read = new(CapabilityName.Parse("test.read"), "1.0", "reads a file", "",
        [new InputDefinition("path", InputType.FilesystemPath, true, "path")], [], [], Tier.Autonomous, [], ExecutionMode.Sandboxed);

    private readonly ConcurrentQueue<AuditEntry> _records = new();
    private readonly ResolvingHandler _handler = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    /// <summary>Resolves like a sandbox in which <c>link</c> is a link to <c>secret</c>; records what it resolved and ran.</summary>
    private sealed class ResolvingHandler : ICapabilityHandler, IPathResolvingHandler
    {
        public ConcurrentQueue<string> Resolved { get; } = new();
        public ConcurrentQueue<(string Path, bool Decided)> Ran { get; } = new();

        public CapabilityName Name => Read.Name;

        public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
        {
            Ran.Enqueue((arguments.GetProperty("path").GetString()!, context.PathsDecided));
            return ValueTask.FromResult<CapabilityOutput>(JsonSerializer.SerializeToElement(new { path = arguments.GetProperty("path").GetString() }));
        }

        public Task<PathResolution> ResolvePathsAsync(AgentName agent, JsonElement arguments, IReadOnlyList<string> names, CancellationToken cancellationToken)
        {
            var path = arguments.GetProperty("path").GetString()!;
            Resolved.Enqueue(path);
            if (path.StartsWith("/etc", StringComparison.Ordinal))
                return Task.FromResult(new PathResolution(null, StructuredError.Create("PathOutOfScope", "outside").WithContext("path", path), true));
            var real = path.Replace("link/", "/workspace/secret/", StringComparison.Ordinal);
            return Task.FromResult(new PathResolution(JsonSerializer.SerializeToElement(new { path = real }), null));
        }
    }

    private IActorRef Session(string policy, Func<IPolicySeam, IPolicySeam>? wrap = null)
    {
        var catalog = new CapabilityCatalog([Read, TestCapabilities.Echo], [_handler, new EchoHandler()]);
        var compiled = PolicyCompiler.Compile(new Dictionary<string, string> { ["agents/builder.yaml"] = policy }, catalog.Registry);
        Assert.True(compiled.Succeeded, string.Join("\n", compiled.Errors));
        IPolicySeam seam = new PolicyStore(catalog.Registry, compiled.Set!);
        return Sys.ActorOf(AgentSessionActor.Props("builder", Pipeline.Dependencies(catalog, Sys.ActorOf(RecordingAudit.Props(_records)), wrap?.Invoke(seam) ?? seam)));
    }

    private sealed class EchoHandler : ICapabilityHandler
    {
        public CapabilityName Name => TestCapabilities.Echo.Name;

        public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
            ValueTask.FromResult<CapabilityOutput>(arguments);
    }

    private const string BlockSecret = "rules:\n  - capability: test.read\n    conditions: { path_prefix: /workspace/secret }\n    tier: blocked\n";

    private async Task<ToolCallResult> CallAsync(IActorRef session, string name, string args)
    {
        session.Tell(Pipeline.Invoke(name, TestActor, args));
        return await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_decide_audit_and_run_on_the_resolved_path()
    {
        var session = Session(BlockSecret);

        var viaLink = await CallAsync(session, "test.read", """{"path":"link/s.txt"}""");
        var elsewhere = await CallAsync(session, "test.read", """{"path":"public/p.txt"}""");

        // the link is decided as the secret it leads to, and the refusal names that path
        Assert.Equal("PolicyDenied", viaLink.Error?.ErrorType);
        Assert.Equal("/workspace/secret/s.txt", viaLink.Error!.Context["resolved_paths"].GetProperty("path").GetString());
        Assert.Equal("/workspace/secret/s.txt", _records.First(e => e.Kind == AuditEntryKind.Call).Inputs.GetProperty("path").GetString());
        // an allowed path runs on the resolved arguments, told they were decided
        Assert.False(elsewhere.IsError, elsewhere.Error?.Message);
        Assert.Equal(("public/p.txt", true), Assert.Single(_handler.Ran));
    }

    [Fact]
    public async Task Should_refuse_and_audit_a_path_that_resolves_out_of_scope_and_never_resolve_calls_no_path_rule_looks_at()
    {
        var session = Session(BlockSecret);

        var escape = await CallAsync(session, "test.read", """{"path":"/etc/shadow"}""");
        var echo = await CallAsync(session, "test.echo", """{"text":"x"}""");

        Assert.Equal("PathOutOfScope", escape.Error?.ErrorType);
        Assert.Contains(_records, e => e.Metadata.ErrorType == "PathOutOfScope");
        Assert.False(echo.IsError);
        Assert.Equal(["/etc/shadow"], _handler.Resolved);
    }

    [Fact]
    public async Task Should_not_resolve_when_no_rule_of_the_agent_looks_at_the_path()
    {
        var session = Session("rules:\n  - capability: test.read\n    tier: notify\n");
        Assert.False((await CallAsync(session, "test.read", """{"path":"link/s.txt"}""")).IsError);
        Assert.Empty(_handler.Resolved);
        Assert.Equal(("link/s.txt", false), Assert.Single(_handler.Ran));
    }

    /// <summary>The decision after the resolution fails (a bug in the policy seam): the caller is still answered at once.</summary>
    private sealed class ThrowingOnDecide(IPolicySeam inner) : IPolicySeam
    {
        public PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now, RateState rateState, out RateState newRateState) =>
            throw new InvalidOperationException("forced");

        public Tier VisibleTier(Principal principal, CapabilityDefinition capability) => inner.VisibleTier(principal, capability);

        public EffectivePolicy Effective(Principal principal, CapabilityRegistry registry) => inner.Effective(principal, registry);

        public System.Collections.Immutable.ImmutableArray<string> DecidedPathArguments(Principal principal, CapabilityDefinition capability) =>
            inner.DecidedPathArguments(principal, capability);

        public event Action? Changed { add { } remove { } }
    }

    [Fact]
    public async Task Should_answer_at_once_when_deciding_a_resolved_call_fails()
    {
        var session = Session(BlockSecret, inner => new ThrowingOnDecide(inner));
        Assert.Equal("InternalError", (await CallAsync(session, "test.read", """{"path":"link/s.txt"}""")).Error?.ErrorType);
    }
}
