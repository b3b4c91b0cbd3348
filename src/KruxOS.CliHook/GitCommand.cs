using System.Globalization;

namespace KruxOS.CliHook;

/// <summary>
/// Maps simple <c>git</c> command lines to the git capabilities. Only forms whose meaning the capability
/// reproduces are mapped; any other option (e.g. <c>push --force</c>) returns null, so the whole command is
/// decided as <c>process.run</c> instead.
/// </summary>
public static class GitCommand
{
    /// <summary>The capability call for <c>git &lt;sub&gt; &lt;args&gt;</c>, or null.</summary>
    public static CapabilityCall? Map(string sub, List<string> args, string cwd) => sub switch
    {
        "status" => args.All(a => a is "-s" or "--short" or "-b" or "--branch" or "-sb" or "--porcelain") ? ShellCommand.Call("git.status") : null,
        "diff" => Diff(args),
        "log" => Log(args),
        "commit" => Commit(args),
        "branch" => Branch(args),
        "init" => Init(args, cwd),
        "clone" => Clone(args, cwd),
        "pull" => RemoteBranch("git.pull", args),
        "push" => RemoteBranch("git.push", args),
        _ => null,
    };

    private static CapabilityCall? Diff(List<string> args)
    {
        var call = ShellCommand.Call("git.diff");
        foreach (var a in args)
        {
            if (a is "--cached" or "--staged") call.Arguments["cached"] = true;
            else if (a.StartsWith('-') || call.Arguments.ContainsKey("commit")) return null;
            else call.Arguments["commit"] = a;
        }
        return call;
    }

    private static CapabilityCall? Log(List<string> args)
    {
        var call = ShellCommand.Call("git.log");
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string? count = null;
            if (a is "-n" && i + 1 < args.Count) count = args[++i];
            else if (a.StartsWith("--max-count=", StringComparison.Ordinal)) count = a["--max-count=".Length..];
            else if (a.Length > 1 && a[0] == '-' && a[1..].All(char.IsAsciiDigit)) count = a[1..];
            else if (a == "--oneline") continue; // presentation only
            else if (a.StartsWith('-') || call.Arguments.ContainsKey("branch")) return null;
            else { call.Arguments["branch"] = a; continue; }
            if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > 500) return null;
            call.Arguments["limit"] = n;
        }
        return call;
    }

    private static CapabilityCall? Commit(List<string> args)
    {
        string? message = null;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a is "-a" or "--all") continue; // the capability stages every modified file by default
            if (a is "-m" or "-am" or "--message" && i + 1 < args.Count && message is null) message = args[++i];
            else if (a.StartsWith("--message=", StringComparison.Ordinal) && message is null) message = a["--message=".Length..];
            else return null;
        }
        // Without a message git opens an editor: not something the capability does.
        return message is null ? null : ShellCommand.Call("git.commit", ("message", message));
    }

    private static CapabilityCall? Branch(List<string> args) => args switch
    {
        [] => ShellCommand.Call("git.branch", ("action", "list")),
        [var name] when !name.StartsWith('-') => ShellCommand.Call("git.branch", ("action", "create"), ("name", name)),
        ["-d" or "--delete", var name] when !name.StartsWith('-') => ShellCommand.Call("git.branch", ("action", "delete"), ("name", name)),
        ["-D", var name] when !name.StartsWith('-') => WithForce(ShellCommand.Call("git.branch", ("action", "delete"), ("name", name))),
        _ => null,
    };

    private static CapabilityCall WithForce(CapabilityCall call)
    {
        call.Arguments["force"] = true;
        return call;
    }

    private static CapabilityCall? Init(List<string> args, string cwd)
    {
        var call = ShellCommand.Call("git.init");
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a is "-b" or "--initial-branch" && i + 1 < args.Count) call.Arguments["initial_branch"] = args[++i];
            else if (a.StartsWith("--initial-branch=", StringComparison.Ordinal)) call.Arguments["initial_branch"] = a["--initial-branch=".Length..];
            else if (a.StartsWith('-') || call.Arguments.ContainsKey("path")) return null;
            else call.Arguments["path"] = ShellCommand.Path(a, cwd);
        }
        return call;
    }

    private static CapabilityCall? Clone(List<string> args, string cwd)
    {
        string? url = null, dir = null, branch = null;
        int? depth = null;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a is "-b" or "--branch" && i + 1 < args.Count) branch = args[++i];
            else if (a is "--depth" && i + 1 < args.Count && int.TryParse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture, out var d) && d >= 1) depth = d;
            else if (a.StartsWith('-')) return null;
            else if (url is null) url = a;
            else if (dir is null) dir = a;
            else return null;
        }
        if (url is null) return null;
        // git's default directory: the last path segment of the URL without ".git".
        dir ??= DefaultDirectory(url);
        if (dir.Length == 0) return null;
        var call = ShellCommand.Call("git.clone", ("url", url), ("path", ShellCommand.Path(dir, cwd)));
        if (branch is not null) call.Arguments["branch"] = branch;
        if (depth is { } depthValue) call.Arguments["depth"] = depthValue;
        return call;
    }

    internal static string DefaultDirectory(string url)
    {
        var trimmed = url.TrimEnd('/');
        var cut = Math.Max(trimmed.LastIndexOf('/'), trimmed.LastIndexOf(':'));
        var last = cut >= 0 ? trimmed[(cut + 1)..] : trimmed;
        return last.EndsWith(".git", StringComparison.Ordinal) ? last[..^4] : last;
    }

    private static CapabilityCall? RemoteBranch(string capability, List<string> args)
    {
        if (args.Any(a => a.StartsWith('-')) || args.Count > 2) return null;
        var call = ShellCommand.Call(capability);
        if (args.Count > 0) call.Arguments["remote"] = args[0];
        if (args.Count > 1) call.Arguments["branch"] = args[1];
        return call;
    }
}
