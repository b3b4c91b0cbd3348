using KruxOS.Core.Audit;
using Xunit;

namespace KruxOS.Core.Tests.Audit;

public sealed class ChainNoteSpecs
{
    private static readonly ChainIssue Issue = new(ChainIssueKind.MissingEntry, "audit-2026-11-24.log", 7, 4096, "does not chain");

    [Fact]
    public void Should_key_a_note_by_the_break_it_records_after_a_round_trip_through_the_log()
    {
        var note = AuditChain.FromGenesis().Seal(AuditEntry.ChainNote(AuditTestData.T0, Issue, atStartup: false));

        var stored = AuditCbor.DecodeStored(note.Payload);

        Assert.True(ChainBreakKey.MayBeNote(note.Payload.Span));
        Assert.Equal(ChainBreakKey.Of(Issue), ChainBreakKey.OfNote(stored));
        Assert.Equal(new ChainBreakKey("missing_entry", "audit-2026-11-24.log", 7, 4096), ChainBreakKey.Of(Issue));
    }

    [Fact]
    public void Should_not_key_entries_that_are_not_notes()
    {
        var call = AuditChain.FromGenesis().Seal(AuditTestData.Entry(1));

        Assert.False(ChainBreakKey.MayBeNote(call.Payload.Span));
        Assert.Null(ChainBreakKey.OfNote(call.Entry));
    }
}
