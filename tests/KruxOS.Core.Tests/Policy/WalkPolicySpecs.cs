using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

/// <summary>The pure decision on each entry a tree walk reaches (ADR 0028).</summary>
public sealed class WalkPolicySpecs
{
    private static readonly CapabilityDefinition Search = Def("filesystem.search", Tier.Autonomous, ("path", InputType.FilesystemPath), ("pattern", InputType.String));

    private const string Rules = """
        rules:
          - capability: "filesystem.*"
            conditions: { path_prefix: /workspace/secret }
            tier: blocked
            reason: secrets stay in the vault
          - capability: "filesystem.*"
            conditions: { path_prefix: /workspace/held }
            tier: approval_required
            reason: a human looks first
          - capability: "filesystem.*"
            conditions: { path_prefix: /workspace/noisy }
            tier: notify
            reason: tell someone
          - capability: "filesystem.*"
            conditions: { path_prefix: /workspace/reviewed }
            tier: approval_required
            reason: every look is reviewed
          - capability: filesystem.move
            conditions: { argument: source, path_prefix: /workspace/proj/keys }
            tier: blocked
            reason: keys stay put
          - capability: filesystem.move
            conditions: { argument: destination, path_prefix: /workspace/out/vault }
            tier: blocked
            reason: nothing is moved into the vault
        """;

    private static readonly PolicySet Set = Compile(("agents/bot.yaml", Rules));

    private static readonly CapabilityDefinition MoveDef = Def("filesystem.move", Tier.Notify, ("source", InputType.FilesystemPath), ("destination", InputType.FilesystemPath));

    // An entry a directory move of source to destination carries, at its old path ("source") or its new one ("destination").
    private static Core.Errors.StructuredError? Moved(string source, string destination, string argument, string entry) =>
        WalkPolicy.Decide(Bot, MoveDef, Args($$"""{"source":"{{source}}","destination":"{{destination}}"}"""), argument, entry, Set, T0);

    private static Core.Errors.StructuredError? Entry(string walked, string entry) =>
        WalkPolicy.Decide(Bot, Search, Args($$"""{"path":"{{walked}}","pattern":"**"}"""), "path", entry, Set, T0);

    [Fact]
    public void An_entry_below_a_blocked_prefix_is_held_back_and_named()
    {
        var refusal = Entry("/workspace", "/workspace/secret/s.txt");
        Assert.NotNull(refusal);
        Assert.Equal("PolicyDenied", refusal.ErrorType);
        Assert.Equal("/workspace/secret/s.txt", refusal.ContextString("path"));
        Assert.Contains("agents/bot.yaml", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("secrets stay in the vault", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Entries_outside_the_rule_and_its_segment_lookalikes_are_let_through()
    {
        Assert.Null(Entry("/workspace", "/workspace/public/a.txt"));
        Assert.Null(Entry("/workspace", "/workspace/secretary/a.txt"));
    }

    [Fact]
    public void An_entry_that_needs_approval_is_held_back_from_an_autonomous_walk_but_notify_is_not()
    {
        var held = Entry("/workspace", "/workspace/held/h.txt");
        Assert.NotNull(held);
        Assert.Contains("needs approval on its own", held.Message, StringComparison.Ordinal);
        Assert.Null(Entry("/workspace", "/workspace/noisy/n.txt"));
    }

    [Fact]
    public void A_walk_already_decided_at_the_entrys_tier_holds_nothing_back()
    {
        // The walk of /workspace/reviewed itself needed approval: its entries need no more than that.
        Assert.Null(Entry("/workspace/reviewed", "/workspace/reviewed/r.txt"));
        // A blocked entry is held back from any walk that runs.
        Assert.NotNull(Entry("/workspace/reviewed", "/workspace/secret/s.txt"));
    }

    [Theory]
    [InlineData(Tier.Autonomous, Tier.Blocked, true)]
    [InlineData(Tier.Autonomous, Tier.ApprovalRequired, true)]
    [InlineData(Tier.Notify, Tier.ApprovalRequired, true)]
    [InlineData(Tier.Autonomous, Tier.Notify, false)]
    [InlineData(Tier.ApprovalRequired, Tier.ApprovalRequired, false)]
    [InlineData(Tier.Notify, Tier.Autonomous, false)]
    public void Held_back_means_stricter_than_the_walk_and_needing_a_human_or_blocked(Tier walk, Tier entry, bool held) =>
        Assert.Equal(held, WalkPolicy.HoldsBack(walk, entry));

    [Fact]
    public void Only_calls_that_walk_a_tree_have_a_walk_shape()
    {
        Assert.Equal(new WalkShape("path", null), WalkPolicy.ShapeOf("filesystem.search", Args("""{"path":"."}""")));
        Assert.Equal(new WalkShape("path", null), WalkPolicy.ShapeOf("filesystem.search_content", Args("""{"path":"."}""")));
        Assert.Equal(new WalkShape("path", null), WalkPolicy.ShapeOf("filesystem.watch", Args("""{"path":"."}""")));
        Assert.Equal(new WalkShape("source", "destination"), WalkPolicy.ShapeOf("filesystem.copy", Args("""{"source":"a","destination":"b"}""")));
        Assert.Equal(new WalkShape("path", "path"), WalkPolicy.ShapeOf("filesystem.edit", Args("""{"path":".","include_glob":"**/*.cs"}""")));
        Assert.Equal(new WalkShape("source", "destination"), WalkPolicy.ShapeOf("filesystem.move", Args("""{"source":"a","destination":"b"}""")));
        Assert.Null(WalkPolicy.ShapeOf("filesystem.edit", Args("""{"path":"a.cs"}""")));
        // A delete removes only a file, a link or an empty directory: it reaches nothing below its path.
        Assert.Null(WalkPolicy.ShapeOf("filesystem.delete", Args("""{"path":"a"}""")));
        Assert.Null(WalkPolicy.ShapeOf("filesystem.read", Args("""{"path":"a.cs"}""")));
    }

    [Fact]
    public void The_entry_is_decided_with_the_other_arguments_as_given()
    {
        var replaced = WalkPolicy.WithPath(Args("""{"path":"/workspace","pattern":"*.md","max_results":5}"""), "path", "/workspace/a/b.md");
        Assert.Equal("/workspace/a/b.md", replaced.GetProperty("path").GetString());
        Assert.Equal("*.md", replaced.GetProperty("pattern").GetString());
        Assert.Equal(5, replaced.GetProperty("max_results").GetInt32());
    }

    [Fact]
    public void A_move_of_a_parent_is_refused_for_a_blocked_entry_it_would_carry_away()
    {
        var refusal = Moved("/workspace/proj", "/workspace/public/proj", "source", "/workspace/proj/keys/k.pem");
        Assert.NotNull(refusal);
        Assert.Equal("PolicyDenied", refusal.ErrorType);
        Assert.Equal("/workspace/proj/keys/k.pem", refusal.ContextString("path"));
        Assert.Equal("source", refusal.ContextString("argument"));
        Assert.Contains("keys stay put", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_move_of_a_parent_is_refused_for_an_entry_whose_new_path_a_destination_rule_blocks()
    {
        // The entry is harmless where it is; where the move would write it, a rule on the destination side blocks it.
        Assert.Null(Moved("/workspace/payload", "/workspace/out", "source", "/workspace/payload/vault/p.txt"));
        var refusal = Moved("/workspace/payload", "/workspace/out", "destination", "/workspace/out/vault/p.txt");
        Assert.NotNull(refusal);
        Assert.Equal("/workspace/out/vault/p.txt", refusal.ContextString("path"));
        Assert.Equal("destination", refusal.ContextString("argument"));
        Assert.Contains("nothing is moved into the vault", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_move_of_a_clean_tree_lets_every_entry_through_on_both_sides()
    {
        Assert.Null(Moved("/workspace/proj", "/workspace/out/proj", "source", "/workspace/proj/src/a.cs"));
        Assert.Null(Moved("/workspace/proj", "/workspace/out/proj", "destination", "/workspace/out/proj/src/a.cs"));
        Assert.Null(Moved("/workspace/proj", "/workspace/out/vaulted", "destination", "/workspace/out/vaulted/a.cs"));
    }
}
