using System.Text;
using System.Text.Json;

namespace KruxOS.Core.Dashboard;

/// <summary>What approving a held call will do, as far as it can be told from the call alone.</summary>
/// <param name="Kind"><c>file_change</c> (filesystem.write/edit/append: the diff needs the file's current content),
/// <c>command</c>, <c>network</c> or <c>call</c> (anything else: the arguments say it all).</param>
/// <param name="Summary">One line for a human, e.g. the exact command line or <c>POST https://…</c>.</param>
/// <param name="Path">The file a file change touches.</param>
/// <param name="CommandLine">The exact command line of a <c>process.run</c>, each argument quoted for a POSIX shell.</param>
/// <param name="WorkingDirectory">Where that command runs.</param>
/// <param name="Method">The HTTP method of a network call.</param>
/// <param name="Url">The URL of a network call.</param>
public sealed record ApprovalEffect(string Kind, string Summary, string? Path = null, string? CommandLine = null, string? WorkingDirectory = null,
    string? Method = null, string? Url = null);

/// <summary>Derives <see cref="ApprovalEffect"/> from a held call's capability and arguments (pure; arguments are hostile text).</summary>
public static class ApprovalEffects
{
    /// <summary>The capabilities whose effect is a change to one file, shown as a diff against its current content.</summary>
    public static readonly IReadOnlySet<string> FileChanges = new HashSet<string>(StringComparer.Ordinal) { "filesystem.write", "filesystem.edit", "filesystem.append" };

    /// <summary>The effect of <paramref name="capability"/> called with <paramref name="arguments"/>.</summary>
    public static ApprovalEffect Of(string capability, JsonElement arguments)
    {
        ArgumentNullException.ThrowIfNull(capability);
        if (FileChanges.Contains(capability))
        {
            var path = Text(arguments, "path") ?? "";
            var verb = capability switch { "filesystem.write" => "replace the content of", "filesystem.append" => "append to", _ => "edit" };
            return new ApprovalEffect("file_change", $"{verb} {path}", Path: path);
        }
        if (capability == "process.run")
        {
            var line = CommandLine(Text(arguments, "command") ?? "",
                arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty("args", out var a) && a.ValueKind == JsonValueKind.Array
                    ? [.. a.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() ?? "" : e.GetRawText())]
                    : []);
            var cwd = Text(arguments, "working_directory") ?? "/workspace";
            return new ApprovalEffect("command", line, CommandLine: line, WorkingDirectory: cwd);
        }
        if (capability.StartsWith("network.", StringComparison.Ordinal))
        {
            var url = Text(arguments, "url") ?? Text(arguments, "uri") ?? "";
            var method = (Text(arguments, "method") ?? (capability.EndsWith(".post", StringComparison.Ordinal) ? "POST" : "GET")).ToUpperInvariant();
            return new ApprovalEffect("network", $"{method} {url}", Method: method, Url: url);
        }
        return new ApprovalEffect("call", $"run {capability} with the arguments shown");
    }

    /// <summary>
    /// A command line as a POSIX shell would need it typed to run exactly this program with exactly these arguments:
    /// each word is left bare only when it holds nothing but safe characters, and otherwise single-quoted. Control
    /// characters are shown as <c>$'\xNN'</c> so nothing can hide in the line.
    /// </summary>
    public static string CommandLine(string command, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var sb = new StringBuilder(Quote(command));
        foreach (var arg in args) sb.Append(' ').Append(Quote(arg));
        return sb.ToString();
    }

    /// <summary>One word quoted for a POSIX shell.</summary>
    public static string Quote(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "@%_+=:,./-".Contains(c, StringComparison.Ordinal))) return word;
        if (word.Any(char.IsControl))
        {
            var sb = new StringBuilder("$'");
            foreach (var c in word)
            {
                if (char.IsControl(c)) sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                else if (c is '\'' or '\\') sb.Append('\\').Append(c);
                else sb.Append(c);
            }
            return sb.Append('\'').ToString();
        }
        return "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    private static string? Text(JsonElement args, string name) =>
        args.ValueKind == JsonValueKind.Object && args.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
