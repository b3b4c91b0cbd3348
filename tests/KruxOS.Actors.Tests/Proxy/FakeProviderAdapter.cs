using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;
using KruxOS.Proxy;

namespace KruxOS.Actors.Tests.Proxy;

/// <summary>
/// An in-memory provider behind a test adapter: it records every request that reached it (with the write's marker), can be
/// told to fail, and can hold a request after accepting it (to kill the node between "provider accepted" and "recorded
/// done"). Its lookup finds a write by its marker, as a real adapter finds it in sent mail.
/// </summary>
public sealed class FakeProvider
{
    private readonly ConcurrentQueue<(string Marker, string Operation, int Attempt)> _accepted = new();
    private int _lookups;
    private int _failures;

    /// <summary>How the next requests fail (transient unless <see cref="Permanent"/>); counts down.</summary>
    public int FailNext { get => Volatile.Read(ref _failures); set => Volatile.Write(ref _failures, value); }

    /// <summary>Failures are permanent.</summary>
    public bool Permanent { get; set; }

    /// <summary>When set, a request is accepted (recorded) and then never answered: the adapter waits for cancellation.</summary>
    public bool HangAfterAccept { get; set; }

    /// <summary>Completed when a request was accepted while <see cref="HangAfterAccept"/> was set.</summary>
    public TaskCompletionSource AcceptedAndHanging { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Turns the marker lookup off (to see what happens without the defence).</summary>
    public bool LookupDisabled { get; set; }

    public IReadOnlyList<(string Marker, string Operation, int Attempt)> Accepted => [.. _accepted];

    public int Lookups => Volatile.Read(ref _lookups);

    public int CountFor(WriteMarker marker) => _accepted.Count(a => a.Marker == marker.Value);

    public async Task<WriteOutcome> ExecuteAsync(WriteExecution write, CancellationToken ct)
    {
        if (Interlocked.Decrement(ref _failures) >= 0)
            return Permanent ? WriteOutcome.Permanent("400 invalid recipient") : WriteOutcome.Transient("503 service unavailable");
        Interlocked.Exchange(ref _failures, 0);
        _accepted.Enqueue((write.Marker.Value, write.Operation.Value, write.Attempt));
        if (HangAfterAccept)
        {
            AcceptedAndHanging.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }
        return new WriteOutcome.Done("msg-" + _accepted.Count);
    }

    public ExecutedLookup Find(WriteExecution write)
    {
        Interlocked.Increment(ref _lookups);
        if (LookupDisabled) return ExecutedLookup.Absent;
        return _accepted.Any(a => a.Marker == write.Marker.Value) ? new ExecutedLookup.Found("found-" + write.Marker.Value[..12]) : ExecutedLookup.Absent;
    }
}

/// <summary>A test adapter for the service <c>fakemail</c> (category <c>fakemail</c>) over a <see cref="FakeProvider"/>.</summary>
public sealed class FakeMailAdapter(FakeProvider provider, TimeSpan window) : IServiceAdapter
{
    public static readonly ServiceName Service = ServiceName.Parse("fakemail");

    public FakeProvider Provider => provider;

    public AdapterDescriptor Descriptor { get; } = new(Service, "Fake mail", ["fakemail"], TimeSpan.FromMinutes(5), [
        WriteOperationSpec.Buffered("fakemail.send", window, null, BatchLimit.PerHour(20, "fakemail.send")),
        WriteOperationSpec.Buffered("fakemail.delete", window, new RollbackSpec("untrash", TimeSpan.FromHours(72)), null),
        WriteOperationSpec.Immediate("fakemail.draft"),
    ]);

    public ImmutableArray<string> CredentialHosts => ["127.0.0.1"];

    public Task<ConnectResult> ConnectAsync(ConnectRequest request, CancellationToken cancellationToken) =>
        Task.FromResult<ConnectResult>(new ConnectResult.Connected("me@fake.test", "fake-credential-value"u8.ToArray()));

    public Task<ConnectionCheck> VerifyAsync(CancellationToken cancellationToken) => Task.FromResult(new ConnectionCheck(true, "me@fake.test", null));

    public Task<ProviderCallResult> RevokeAsync(CancellationToken cancellationToken) => Task.FromResult(ProviderCallResult.Success);

    public Task<SyncOutcome> SyncAsync(SyncRequest request, CancellationToken cancellationToken) => Task.FromResult(SyncOutcome.Success("c1", 0, 0));

    public string Describe(CapabilityName operation, JsonElement arguments) =>
        arguments.TryGetProperty("to", out var to) ? $"to {to.GetString()}" : operation.Value;

    public Task<RollbackCapture> CaptureRollbackAsync(WriteExecution write, CancellationToken cancellationToken) =>
        Task.FromResult<RollbackCapture>(new RollbackCapture.Captured(new RollbackPoint("untrash", JsonDocument.Parse("""{"labels":["INBOX"]}""").RootElement, DateTimeOffset.UtcNow)));

    public Task<WriteOutcome> ExecuteAsync(WriteExecution write, CancellationToken cancellationToken) => provider.ExecuteAsync(write, cancellationToken);

    public Task<ExecutedLookup> FindExecutedAsync(WriteExecution write, CancellationToken cancellationToken) => Task.FromResult(provider.Find(write));

    public Task<WriteOutcome> ApplyRollbackAsync(RollbackPoint point, WriteExecution write, CancellationToken cancellationToken) =>
        Task.FromResult<WriteOutcome>(new WriteOutcome.Done("rolled-back"));
}
