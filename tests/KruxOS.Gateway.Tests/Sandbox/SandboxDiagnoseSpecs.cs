using System.Text.Json.Nodes;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Sandbox;

/// <summary><c>kruxos sandbox diagnose</c> as an operator runs it: from a private data directory, with the advisory table.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SandboxDiagnoseSpecs
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public async Task Diagnose_works_from_a_0700_data_directory_under_a_0700_parent_and_reports_the_bubblewrap_advisories()
    {
        Assert.SkipUnless(Environment.UserName == "root" && File.Exists("/usr/bin/bwrap"), "the kernel sandbox needs root and bubblewrap");
        // arrange: the layout of a root user's default ~/.kruxos (/root is 0700), or of `mktemp -d`
        var parent = Directory.CreateTempSubdirectory("kruxos-diag-").FullName;
        var dataDir = Path.Combine(parent, "data");
        Directory.CreateDirectory(dataDir, Private);
        try
        {
            var env = new Dictionary<string, string> { ["KRUXOS_DATA_DIR"] = dataDir };

            // act
            var text = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "sandbox", "diagnose"], env);
            var json = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "sandbox", "diagnose", "--json"], env);

            // assert: every mechanism measured active through the private directory, which stays private
            Assert.True(text.ExitCode == 0, text.StdOut + text.StdErr);
            Assert.Contains("sandbox: all mechanisms active", text.StdOut, StringComparison.Ordinal);
            Assert.DoesNotContain("Permission denied", text.StdOut + text.StdErr, StringComparison.Ordinal);
            Assert.Contains("private_data  active", text.StdOut, StringComparison.Ordinal);
            Assert.Equal(Private, File.GetUnixFileMode(dataDir));
            Assert.Equal(Private, File.GetUnixFileMode(parent));
            // the installed bubblewrap against the advisories, with a verdict and its reason
            Assert.Contains("advisory CVE-2026-87766 (GHSA-pxhw-h44j-8pfx): ", text.StdOut, StringComparison.Ordinal);
            var report = JsonNode.Parse(json.StdOut)!;
            var advisory = report["advisories"]!.AsArray().Single(a => a!["id"]!.GetValue<string>() == "CVE-2026-87766")!;
            Assert.Equal("0.12.0", advisory["fixed_in"]!.GetValue<string>());
            Assert.Contains(advisory["verdict"]!.GetValue<string>(), new[] { "not_exposed", "not_affected" });
            Assert.False(string.IsNullOrWhiteSpace(advisory["reason"]!.GetValue<string>()));
        }
        finally { if (Directory.Exists(parent)) Directory.Delete(parent, recursive: true); }
    }
}
