using System.Diagnostics;
using System.Globalization;

namespace KruxOS.Cli;

/// <summary>A local account: name, uid, primary gid and home directory (null for a bare uid with no account).</summary>
public sealed record UnixUser(string Name, uint Uid, uint Gid, string? Home)
{
    /// <summary>Whether the name service knows the account (then its supplementary groups can be looked up).</summary>
    public bool HasAccount => Home is not null;
}

/// <summary>
/// Local accounts, looked up through the system's name service (<c>getent passwd</c>, so LDAP/SSSD users are
/// found too), and running a command as one of them (<c>setpriv</c>, with their groups and a clean environment).
/// </summary>
public static class UnixUsers
{
    /// <summary>
    /// The account of a name or numeric uid (<c>getent passwd</c>); a numeric uid with no account is still a user
    /// (a bare uid, group = uid, no home). Null when a name is unknown.
    /// </summary>
    public static async Task<UnixUser?> FindAsync(string nameOrUid, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(nameOrUid) || nameOrUid.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c == ':') || nameOrUid.StartsWith('-'))
            return null;
        int code;
        string output;
        try { (code, output, _) = await RunAsync("getent", ["passwd", nameOrUid], null, ct).ConfigureAwait(false); }
        catch (System.ComponentModel.Win32Exception) { (code, output) = (2, ""); } // no getent at all
        if (code == 0 && Parse(output.Split('\n')[0]) is { } account) return account;
        return uint.TryParse(nameOrUid, NumberStyles.None, CultureInfo.InvariantCulture, out var uid) && uid != uint.MaxValue
            ? new UnixUser(nameOrUid, uid, uid, null)
            : null;
    }

    /// <summary>Parses one passwd line (<c>name:x:uid:gid:gecos:home:shell</c>).</summary>
    public static UnixUser? Parse(string line)
    {
        var f = line.Trim().Split(':');
        if (f.Length < 7 || f[0].Length == 0
            || !uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
            || !uint.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var gid)
            || !Path.IsPathFullyQualified(f[5]))
            return null;
        return new UnixUser(f[0], uid, gid, f[5]);
    }

    /// <summary>
    /// The user who invoked this process through <c>sudo</c> (<c>SUDO_UID</c>), when it is not root; null otherwise.
    /// </summary>
    public static async Task<UnixUser?> InvokingUserAsync(Func<string, string?> environment, CancellationToken ct)
    {
        if (environment("SUDO_UID") is not { Length: > 0 } sudoUid || sudoUid == "0") return null;
        return await FindAsync(sudoUid, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The argv that runs <paramref name="args"/> as <paramref name="user"/>: its uid, gid and groups, a clean
    /// environment (<c>HOME</c>, <c>USER</c>, <c>PATH</c> from the account). Only root can do this.
    /// </summary>
    /// <remarks>A bare uid (no account) gets no supplementary groups and <c>HOME</c> = <paramref name="home"/>.</remarks>
    public static IReadOnlyList<string> AsUser(UnixUser user, IEnumerable<string> args, string? home = null) =>
        user.HasAccount
            ? ["setpriv", $"--reuid={user.Uid}", $"--regid={user.Gid}", "--init-groups", "--reset-env", "--", .. args]
            : ["setpriv", $"--reuid={user.Uid}", $"--regid={user.Gid}", "--clear-groups", "--", "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", $"HOME={home ?? "/"}", .. args];

    /// <summary>Runs a program to completion (bounded); the exit code and both outputs.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string program, IEnumerable<string> args, string? stdin, CancellationToken ct,
        TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin.AsMemory(), ct).ConfigureAwait(false);
        process.StandardInput.Close();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }

    /// <summary>
    /// This program's own command line (the installed launcher's <c>dotnet kruxos.dll</c>, or the apphost), to run it
    /// again in a child process.
    /// </summary>
    public static IReadOnlyList<string> Self()
    {
        var process = Environment.ProcessPath ?? "dotnet";
        if (Path.GetFileName(process) == "kruxos") return [process]; // the CLI's own apphost
        var host = Path.GetFileNameWithoutExtension(process) == "dotnet" ? process : "dotnet";
        return [host, typeof(UnixUsers).Assembly.Location];
    }
}
