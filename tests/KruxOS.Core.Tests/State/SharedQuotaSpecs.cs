using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Core.State.Shared;
using Xunit;
using static KruxOS.Core.State.Shared.SharedQuotaCommands;
using static KruxOS.Core.State.Shared.SharedQuotaEvents;
using static KruxOS.Core.State.Shared.SharedQuotaReplies;
using static KruxOS.Core.State.Shared.SharedStateCommands;
using static KruxOS.Core.State.Shared.SharedStateEvents;
using static KruxOS.Core.State.Shared.SharedStateReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>The global shared-state quota held as grants to partitions: the ledger, the partition's side, and the invariant under faults.</summary>
public sealed class SharedQuotaSpecs
{
    private static readonly Principal A = Principal.ForAgent(Builder);

    private static (GrantReply Reply, SharedQuotaLedger Ledger) Ask(SharedQuotaLedger ledger, ISharedQuotaMessage request, long limit)
    {
        var (reply, events) = ledger.ProcessCommand(request, T0, limit);
        return (reply, ledger.ApplyAll(events));
    }

    [Fact]
    public void Should_grant_the_desired_amount_when_it_fits_the_minimum_near_the_limit_and_nothing_beyond()
    {
        var ledger = SharedQuotaLedger.Empty;
        (var r1, ledger) = Ask(ledger, new RequestGrant(1, 0, 600, 700), 1000);
        Assert.Equal(new GrantReply(1, 700, 1, false, 700, 1000), r1);
        (var r2, ledger) = Ask(ledger, new RequestGrant(2, 0, 250, 400), 1000);
        Assert.Equal(new GrantReply(2, 250, 1, false, 950, 1000), r2);
        (var r3, ledger) = Ask(ledger, new RequestGrant(2, 1, 400, 500), 1000);
        Assert.True(r3.Refused);
        Assert.Equal((250L, 1L), (r3.Granted, r3.Seq));
        Assert.Equal(950, ledger.TotalGranted);
    }

    [Fact]
    public void Should_apply_an_increase_at_most_once_however_often_it_arrives()
    {
        var (first, ledger) = Ask(SharedQuotaLedger.Empty, new RequestGrant(3, 0, 100, 200), 1000);
        Assert.Equal(new GrantReply(3, 200, 1, false, 200, 1000), first);
        // a duplicate or delayed copy finds the record moved on: it gets the record, nothing is granted twice
        var (again, events) = ledger.ProcessCommand(new RequestGrant(3, 0, 100, 200), T0, 1000);
        Assert.Empty(events);
        Assert.Equal(first, again);
        var (ahead, aheadEvents) = ledger.ProcessCommand(new RequestGrant(3, 7, 900, 900), T0, 1000);
        Assert.Empty(aheadEvents);
        Assert.Equal((200L, 1L, false), (ahead.Granted, ahead.Seq, ahead.Refused));
    }

    [Fact]
    public void Should_record_a_newer_release_never_raise_a_record_and_ignore_an_old_one()
    {
        var (_, ledger) = Ask(SharedQuotaLedger.Empty, new RequestGrant(0, 0, 900, 900), 1000);
        var (released, after) = Ask(ledger, new ReleaseGrant(0, 2, 100), 50);
        Assert.Equal((100L, 2L, false), (released.Granted, released.Seq, released.Refused));
        Assert.Equal(100, after.TotalGranted);
        var (capped, _) = Ask(after, new ReleaseGrant(0, 3, 5000), 1000);
        Assert.Equal(100, capped.Granted);
        var (old, none) = after.ProcessCommand(new ReleaseGrant(0, 2, 10), T0, 1000);
        Assert.Empty(none);
        Assert.Equal(100, old.Granted);
    }

    [Fact]
    public void Should_ask_for_a_grant_before_a_write_that_does_not_fit_and_write_once_it_is_adopted()
    {
        var limits = SharedStateLimits.Default with { GrantChunkBytes = 1000 };
        var p = SharedPartitionState.Empty(SharedStatePartitions.Of("k"));
        var set = new SetShared("k", J("\"" + new string('v', 98) + "\""), 0, A);
        var need = StateAccounting.KeyCharge("k") + 100 + StateAccounting.RecordOverheadBytes;

        var (first, none) = p.ProcessCommand(set, T0, limits);
        var request = Assert.IsType<GrantNeeded>(first).Request;
        Assert.Empty(none);
        Assert.Equal(new RequestGrant(p.Partition, 0, need, need + 1000), request);

        var (grant, ledger) = Ask(SharedQuotaLedger.Empty, request, limits.QuotaBytes);
        var (adopted, adoptEvents) = p.ProcessCommand(new AdoptGrant(grant), T0, limits);
        Assert.Equal(new GrantState(need + 1000, 1), adopted);
        p = p.ApplyAll(adoptEvents);
        var (written, events) = p.ProcessCommand(set, T0, limits);
        Assert.Equal(new SetResult(1), written);
        Assert.Equal(need, p.ApplyAll(events).UsedBytes);
        Assert.Equal(need + 1000, ledger.TotalGranted);
    }

    [Fact]
    public void Should_refuse_a_write_with_quota_exceeded_when_the_ledger_has_no_room_and_keep_the_previous_value()
    {
        var limit = 300L;
        var p = SharedPartitionState.Empty(SharedStatePartitions.Of("k"));
        var first = new SetShared("k", J("1"), 0, A);
        var (need, _) = p.ProcessCommand(first, T0, SharedStateLimits.Default);
        var (grant, ledger) = Ask(SharedQuotaLedger.Empty, ((GrantNeeded)need).Request, limit);
        p = p.ApplyAll(p.ProcessCommand(new AdoptGrant(grant), T0, SharedStateLimits.Default).Events);
        p = p.ApplyAll(p.ProcessCommand(first, T0, SharedStateLimits.Default).Events);

        var big = new SetShared("k", J("\"" + new string('x', 400) + "\""), 1, A);
        var (again, _) = p.ProcessCommand(big, T0, SharedStateLimits.Default);
        var asked = ((GrantNeeded)again).Request;
        var (refusal, _) = ledger.ProcessCommand(asked, T0, limit);
        Assert.True(refusal.Refused);
        var error = SharedQuotaLedgerExtensions.QuotaRefusal(refusal, asked);
        Assert.Equal("QuotaExceeded", error.ErrorType);
        Assert.Equal("shared", error.ContextString("scope"));
        Assert.Equal(limit, error.Context["limit_bytes"].GetInt64());
        Assert.True(error.Context["required_bytes"].GetInt64() > limit);
        // the partition adopts the unchanged record: nothing to persist, the value stays
        var (_, adoptEvents) = p.ProcessCommand(new AdoptGrant(refusal), T0, SharedStateLimits.Default);
        Assert.Empty(adoptEvents);
        Assert.Equal(J("1"), ((GetResult)p.Query(new SharedStateQueries.GetShared("k"), SharedStateLimits.Default)).Value);
    }

    [Fact]
    public void Should_give_back_slack_above_two_chunks_locally_first()
    {
        var limits = SharedStateLimits.Default with { GrantChunkBytes = 100 };
        var p = SharedPartitionState.Empty(0).Apply(new GrantChanged(1000, 4, T0));
        var (reply, events) = p.ProcessCommand(new ReleaseSlack(0), T0, limits);
        var released = Assert.IsType<GrantReleased>(reply);
        Assert.Equal(new ReleaseGrant(0, 5, 100), released.Request);
        Assert.Equal(new GrantChanged(100, 5, T0), Assert.Single(events));
        var (keep, none) = p.ApplyAll(events).ProcessCommand(new ReleaseSlack(0), T0, limits);
        Assert.IsType<GrantState>(keep);
        Assert.Empty(none);
    }

    [Fact]
    public void Should_repair_a_lost_release_and_a_sequence_number_reused_after_a_restart()
    {
        var limits = SharedStateLimits.Default;
        // the ledger never heard of the partition's release to (3, 100): the partition tells it again
        var p = SharedPartitionState.Empty(0).Apply(new GrantChanged(100, 3, T0));
        var (resend, none) = p.ProcessCommand(new AdoptGrant(new GrantReply(0, 900, 2, false, 900, 1000)), T0, limits);
        Assert.Equal(new ReleaseGrant(0, 3, 100), Assert.IsType<GrantReleased>(resend).Request);
        Assert.Empty(none);
        // the ledger recorded an increase (2, 900) whose reply was lost; the restarted partition released under (2, 100)
        var q = SharedPartitionState.Empty(0).Apply(new GrantChanged(100, 2, T0));
        var (bump, events) = q.ProcessCommand(new AdoptGrant(new GrantReply(0, 900, 2, false, 900, 1000)), T0, limits);
        Assert.Equal(new ReleaseGrant(0, 3, 100), Assert.IsType<GrantReleased>(bump).Request);
        Assert.Equal(new GrantChanged(100, 3, T0), Assert.Single(events));
        // and when the ledger holds less under the same number, its figure wins
        var (_, lower) = q.ProcessCommand(new AdoptGrant(new GrantReply(0, 50, 2, false, 50, 1000)), T0, limits);
        Assert.Equal(new GrantChanged(50, 2, T0), Assert.Single(lower));
    }

    [Fact]
    public void Should_round_trip_the_ledger_snapshot_and_refuse_a_damaged_one()
    {
        var (_, ledger) = Ask(SharedQuotaLedger.Empty, new RequestGrant(4, 0, 10, 20), 1000);
        (_, ledger) = Ask(ledger, new RequestGrant(9, 0, 10, 30), 1000);
        var back = SharedQuotaLedger.FromSnapshot(ledger.ToSnapshot());
        Assert.Equal(50, back.TotalGranted);
        Assert.Equal(ledger.GrantOf(9), back.GrantOf(9));
        Assert.Throws<InvalidDataException>(() => SharedQuotaLedger.FromSnapshot(new SharedQuotaLedgerSnapshot([new PartitionGrant(64, 1, 1)])));
        Assert.Throws<InvalidDataException>(() => SharedQuotaLedger.FromSnapshot(new SharedQuotaLedgerSnapshot([new PartitionGrant(1, -1, 1)])));
    }

    /// <summary>
    /// The adversarial one: partitions and the ledger exchange grants over a network that loses, repeats and
    /// reorders messages, while partitions restart at random (losing what they were waiting for) and writers
    /// fill keys as fast as they can. After every step the sum of what partitions store never exceeds the
    /// quota, no partition stores more than its grant, and no partition believes it holds more than the
    /// ledger recorded for it. When the faults stop and every partition reconciles, no grant is leaked.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Should_never_store_more_than_the_quota_whatever_is_lost_repeated_reordered_or_restarted(int seed)
    {
        var sim = new GrantSimulation(seed, limit: 4000, chunk: 300);
        for (var step = 0; step < 3000; step++)
        {
            sim.Step();
            sim.AssertInvariants(step);
        }
        sim.Settle();
        sim.AssertInvariants(-1);
        sim.AssertNoLeak();
        Assert.True(sim.Refusals > 0, "the run must reach the quota: " + sim.Describe());
        Assert.True(sim.Writes > 100, "the run must write");
    }

    private sealed class GrantSimulation
    {
        private const int Partitions = 4;
        private readonly Random _rng;
        private readonly long _limit;
        private readonly SharedStateLimits _limits;
        private readonly SharedPartitionState[] _parts = new SharedPartitionState[Partitions];
        private readonly bool[] _waiting = new bool[Partitions];
        private readonly SetShared?[] _pending = new SetShared?[Partitions];
        private readonly long[] _awaiting = new long[Partitions];
        private long _correlation;
        private readonly List<string>[] _keys = new List<string>[Partitions];
        private readonly List<object> _network = [];
        private SharedQuotaLedger _ledger = SharedQuotaLedger.Empty;
        private bool _faults = true;

        public GrantSimulation(int seed, long limit, long chunk)
        {
            _rng = new Random(seed);
            _limit = limit;
            _limits = SharedStateLimits.Default with { QuotaBytes = limit, GrantChunkBytes = chunk };
            var keys = Enumerable.Range(0, 5000).Select(i => "key" + i).ToList();
            var partitionIds = keys.Select(SharedStatePartitions.Of).Distinct().Take(Partitions).ToArray();
            for (var i = 0; i < Partitions; i++)
            {
                _parts[i] = SharedPartitionState.Empty(partitionIds[i]);
                _keys[i] = [.. keys.Where(k => SharedStatePartitions.Of(k) == partitionIds[i]).Take(12)];
            }
        }

        public int Writes { get; private set; }

        public string Describe() =>
            $"writes {Writes}, refusals {Refusals}, ledger {_ledger.TotalGranted}, used {_parts.Sum(p => p.UsedBytes)}, keys {_parts.Sum(p => p.Entries.Count)}";

        public int Refusals { get; private set; }

        public void Step()
        {
            var roll = _rng.Next(100);
            var i = _rng.Next(Partitions);
            if (roll < 40) Write(i);
            else if (roll < 45) Delete(i);
            else if (roll < 80) Deliver();
            else if (roll < 83 && _faults) Restart(i);
            else if (roll < 87 && _faults && _network.Count > 0) _network.RemoveAt(_rng.Next(_network.Count));
            else if (roll < 91 && _faults && _network.Count > 0) _network.Add(_network[_rng.Next(_network.Count)]);
            else if (roll < 95 && _faults) { _waiting[i] = false; _pending[i] = null; } // the actor's ledger timeout: the caller gets ServiceUnavailable
            else Release(i);
        }

        public void Settle()
        {
            _faults = false;
            Drain();
            for (var i = 0; i < Partitions; i++) _network.Add(_parts[i].Reconcile());
            Drain();
        }

        public void AssertInvariants(int step)
        {
            long used = 0;
            for (var i = 0; i < Partitions; i++)
            {
                var p = _parts[i];
                used += p.UsedBytes;
                Assert.True(p.UsedBytes <= p.Granted, $"step {step}: partition {p.Partition} stores {p.UsedBytes} over its grant {p.Granted}");
                Assert.True(p.Granted <= _ledger.GrantOf(p.Partition).Granted,
                    $"step {step}: partition {p.Partition} believes it holds {p.Granted}, the ledger recorded {_ledger.GrantOf(p.Partition).Granted}");
            }
            Assert.True(used <= _limit, $"step {step}: {used} bytes stored over the quota of {_limit}");
            Assert.True(_ledger.TotalGranted <= _limit, $"step {step}: the ledger granted {_ledger.TotalGranted}");
        }

        public void AssertNoLeak()
        {
            for (var i = 0; i < Partitions; i++)
                Assert.Equal(_ledger.GrantOf(_parts[i].Partition).Granted, _parts[i].Granted);
        }

        private void Drain()
        {
            // every exchange ends: a partition asks again only after a reply that was not a refusal
            for (var n = 0; _network.Count > 0; n++)
            {
                                Assert.True(n < 10_000, "the grant exchange does not settle: " + Describe());
                Deliver();
            }
        }

        private void Write(int i)
        {
            if (_waiting[i]) return;
            var key = _keys[i][_rng.Next(_keys[i].Count)];
            var current = _parts[i].Entries.TryGetValue(key, out var e) ? e.Version : 0;
            var set = new SetShared(key, J("\"" + new string('x', _rng.Next(0, 900)) + "\""), current, A);
            Decide(i, set, afterRefusal: false);
        }

        private void Decide(int i, SetShared set, bool afterRefusal)
        {
            var (reply, events) = _parts[i].ProcessCommand(set, T0, _limits);
            _parts[i] = _parts[i].ApplyAll(events);
            switch (reply)
            {
                case GrantNeeded when afterRefusal:
                    break; // the caller gets QuotaExceeded

                case GrantNeeded n:
                    // the actor stamps each request, so a late answer to an earlier one is not taken for this one
                    _waiting[i] = true;
                    _pending[i] = set;
                    _awaiting[i] = ++_correlation;
                    _network.Add(n.Request with { Correlation = _awaiting[i] });
                    break;
                case SetResult:
                    Writes++;
                    Release(i);
                    break;
            }
        }

        private void Delete(int i)
        {
            var keys = _parts[i].Entries.Keys.ToList();
            if (keys.Count == 0) return;
            var (_, events) = _parts[i].ProcessCommand(new DeleteShared(keys[_rng.Next(keys.Count)], A), T0, _limits);
            _parts[i] = _parts[i].ApplyAll(events);
            Release(i);
        }

        private void Release(int i)
        {
            if (_waiting[i]) return; // one exchange with the ledger at a time
            var (reply, events) = _parts[i].ProcessCommand(new ReleaseSlack(_parts[i].Partition), T0, _limits);
            _parts[i] = _parts[i].ApplyAll(events);
            if (reply is GrantReleased r) _network.Add(r.Request);
        }

        private void Restart(int i)
        {
            // the journal keeps the state; what the actor waited for is gone; it reconciles first
            _waiting[i] = false;
            _pending[i] = null;
            _network.Add(_parts[i].Reconcile());
        }

        private void Deliver()
        {
            if (_network.Count == 0) return;
            var index = _faults ? _rng.Next(_network.Count) : 0;
            var message = _network[index];
            _network.RemoveAt(index);
            switch (message)
            {
                case ISharedQuotaMessage request:
                {
                    var (reply, events) = _ledger.ProcessCommand(request, T0, _limit);
                    _ledger = _ledger.ApplyAll(events);
                    _network.Add(reply);
                    break;
                }
                case GrantReply reply:
                {
                    var i = Array.FindIndex(_parts, p => p.Partition == reply.Partition);
                    if (reply.Refused) Refusals++;
                    var (adopted, events) = _parts[i].ProcessCommand(new AdoptGrant(reply), T0, _limits);
                    _parts[i] = _parts[i].ApplyAll(events);
                    if (adopted is GrantReleased r) _network.Add(r.Request);
                    if (_waiting[i] && _pending[i] is { } set && reply.Correlation == _awaiting[i])
                    {
                        _waiting[i] = false;
                        _pending[i] = null;
                        Decide(i, set, afterRefusal: reply.Refused);
                    }
                    break;
                }
            }
        }
    }
}
