using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Core.Audit;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Actors.ToolRuns;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Identity;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Tests.Support;

/// <summary>Generous timeouts for a loaded 2-core CI machine.</summary>
public static class TestTimeouts
{
    public static readonly TimeSpan Reply = TimeSpan.FromSeconds(20);
    public static readonly TimeSpan Cluster = TimeSpan.FromSeconds(60);
}

/// <summary>Handlers with observable behaviour for pipeline tests.</summary>
public sealed class TestCapabilities
{
    public static readonly CapabilityDefinition Echo = Def("test.echo", Tier.Autonomous, new InputDefinition("text", InputType.String, true, "text"));
    public static readonly CapabilityDefinition Gated = Def("test.gated", Tier.Autonomous);
    public static readonly CapabilityDefinition Boom = Def("test.boom", Tier.Autonomous);
    public static readonly CapabilityDefinition Declared = Def("test.declared", Tier.Autonomous);
    public static readonly CapabilityDefinition Hang = Def("test.hang", Tier.Autonomous);
    public static readonly CapabilityDefinition Measured = Def("test.measured", Tier.Autonomous, new InputDefinition("fail", InputType.Boolean, false, "fail"));

    /// <summary>What <see cref="Measured"/> reports it consumed (as a sandboxed process.run would: cpu and memory, no I/O).</summary>
    public static readonly AuditResourceUsage MeasuredUsage = new(12, 3_145_728, null, null);

    public ConcurrentQueue<string> Executed { get; } = new();
    public TaskCompletionSource GateOpen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CapabilityCatalog Catalog(params CapabilityDefinition[] extra) => new(
        [Echo, Gated, Boom, Declared, Hang, Measured, .. extra],
        [new Handler(this, Echo.Name, (_, a, _) => Task.FromResult(a)),
         new Handler(this, Gated.Name, async (_, _, ct) => { await GateOpen.Task.WaitAsync(ct); return CoreJson.EmptyObject; }),
         new Handler(this, Boom.Name, (_, _, _) => throw new InvalidOperationException("secret internal detail")),
         new Handler(this, Declared.Name, (_, _, _) => throw new CapabilityException(StructuredError.Create("FileNotFound", "File not found: /workspace/x")
             .WithRecovery("list_directory", "List the parent."))),
         new Handler(this, Hang.Name, async (_, _, ct) => { await Task.Delay(Timeout.Infinite, ct); return CoreJson.EmptyObject; }),
         new MeasuredHandler(this),
         .. extra.Select(d => new Handler(this, d.Name, (_, a, _) => Task.FromResult(a)))]);

    // Reports what it consumed, on success and on failure, as the sandboxed handler does.
    private sealed class MeasuredHandler(TestCapabilities owner) : ICapabilityHandler
    {
        public CapabilityName Name => Measured.Name;

        public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
        {
            owner.Executed.Enqueue(Name.Value);
            if (arguments.TryGetProperty("fail", out var f) && f.GetBoolean())
                throw new CapabilityException(StructuredError.Create("ResourceExhausted", "memory limit reached"), MeasuredUsage);
            return ValueTask.FromResult(new CapabilityOutput(JsonDocument.Parse("""{"exit_code":0}""").RootElement.Clone(), MeasuredUsage));
        }
    }

    public static CapabilityDefinition Def(string name, Tier tier, params InputDefinition[] inputs) =>
        new(CapabilityName.Parse(name), "1.0", $"{name} for tests", "", [.. inputs], [], [], tier, [], ExecutionMode.InProcess);

    private sealed class Handler(TestCapabilities owner, CapabilityName name, Func<InvocationContext, JsonElement, CancellationToken, Task<JsonElement>> run) : ICapabilityHandler
    {
        public CapabilityName Name { get; } = name;

        public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
        {
            owner.Executed.Enqueue(Name.Value);
            return await run(context, arguments, cancellationToken);
        }
    }
}

/// <summary>A policy with fixed tiers per capability (others: definition default).</summary>
public sealed class FixedPolicy(IReadOnlyDictionary<string, Tier> tiers) : IPolicySeam
{
    public PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now, RateState rateState, out RateState newRateState)
    {
        newRateState = rateState;
        return tiers.TryGetValue(capability.Name.Value, out var t)
            ? new PolicyVerdict(t, "test.yaml:3", "fixed for the test", "rev-1")
            : new PolicyVerdict(capability.DefaultTier, $"default:{capability.Name}", "default", "rev-1");
    }

    public Tier VisibleTier(Principal principal, CapabilityDefinition capability) =>
        tiers.TryGetValue(capability.Name.Value, out var t) ? t : capability.DefaultTier;

    public EffectivePolicy Effective(Principal principal, CapabilityRegistry registry) => new("test", [], null, "rev-1");

    public event Action? Changed { add { } remove { } }
}

/// <summary>Builders for session dependencies and calls.</summary>
public static class Pipeline
{
    public static readonly AgentName Agent = AgentName.Parse("builder");

    public static AgentSessionDependencies Dependencies(CapabilityCatalog catalog, IActorRef audit, IPolicySeam? policy = null,
        TimeSpan? executionTimeout = null, TimeSpan? auditTimeout = null, int maxConnections = 16, IdentityDirectory? identities = null,
        AuditAvailability? auditAvailability = null)
    {
        var directory = identities ?? new IdentityDirectory();
        if (identities is null)
        {
            var (_, events) = IdentityState.Empty.ProcessCommand(new IdentityCommands.CreateAgent("builder", "tests", TokenHashing.Hash("t"), DateTimeOffset.UnixEpoch));
            directory.Publish(events.Aggregate(IdentityState.Empty, (s, e) => s.Apply(e)));
        }
        return new AgentSessionDependencies(catalog, policy ?? new PolicyStore(catalog.Registry, PolicySet.Empty(catalog.Registry)), directory, audit,
            new ToolRunSettings(executionTimeout ?? TimeSpan.FromSeconds(5), auditTimeout ?? TimeSpan.FromSeconds(5)),
            maxConnections, TimeSpan.FromMinutes(5), TimeProvider.System, AuditAvailability: auditAvailability);
    }

    public static ToolCall Call(string name, string args = "{}", string sessionId = "sess-test") =>
        new(Principal.ForAgent(Agent), Agent, sessionId, name, JsonDocument.Parse(args).RootElement.Clone(), new ClientInfo("spec", "1"));

    public static AgentSessionCommands.Invoke Invoke(string name, IActorRef replyTo, string args = "{}") => new(Agent, Call(name, args), replyTo);
}

/// <summary>An audit writer stand-in that acknowledges every entry as durable and keeps them.</summary>
public sealed class RecordingAudit : ReceiveActor
{
    public RecordingAudit(ConcurrentQueue<AuditEntry> records) =>
        Receive<AuditCommands.Append>(m =>
        {
            records.Enqueue(m.Draft);
            m.ReplyTo.Tell(new AuditReplies.AuditAppended(m.Draft.Id, $"{records.Count:x64}"));
        });

    public static Props Props(ConcurrentQueue<AuditEntry> records) => Akka.Actor.Props.Create(() => new RecordingAudit(records));
}
