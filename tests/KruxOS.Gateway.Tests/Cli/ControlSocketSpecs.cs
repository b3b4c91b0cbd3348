using System.Text.Json.Nodes;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Cli;

/// <summary>
/// The control socket is the owner's alone: a 0600 socket in a 0700 directory the gateway makes, and a peer
/// with another uid is refused even when the file mode would let it in. The real CLI finds it from
/// <c>KRUXOS_DATA_DIR</c> alone, or from the gateway's configuration file.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ControlSocketSpecs
{
    private const UnixFileMode Owner = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerDirectory = Owner | UnixFileMode.UserExecute;

    [Fact]
    public async Task Should_create_the_sockets_0600_in_a_run_directory_0700_that_it_makes()
    {
        // arrange: a fresh data directory without run/
        await using var gateway = await TestGateway.StartAsync();

        // assert
        Assert.Equal(Path.Combine(gateway.DataDir, "run", "control.sock"), gateway.ControlSocket);
        Assert.Equal(Owner, File.GetUnixFileMode(gateway.ControlSocket));
        Assert.Equal(Owner, File.GetUnixFileMode(gateway.AuthSocket));
        Assert.Equal(OwnerDirectory, File.GetUnixFileMode(Path.Combine(gateway.DataDir, "run")));
    }

    [Fact]
    public async Task Should_make_the_run_directory_traversable_when_other_uids_may_use_the_auth_socket_in_it()
    {
        await using var gateway = await TestGateway.StartAsync(null, "--Gateway:AuthSocketUids:0", "4242");
        Assert.Equal(OwnerDirectory | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute, File.GetUnixFileMode(Path.Combine(gateway.DataDir, "run")));
        // the control socket in it stays the owner's
        Assert.Equal(Owner, File.GetUnixFileMode(gateway.ControlSocket));
    }

    [Fact]
    public async Task Should_refuse_a_peer_with_another_uid()
    {
        if (PeerUid() != 0 || !File.Exists("/usr/bin/setpriv"))
            Assert.Skip("needs root and setpriv to run the CLI as another uid");
        // A directory every uid can traverse, so the refusals come from the socket's mode and SO_PEERCRED.
        var dir = Directory.CreateTempSubdirectory("kruxos-control-");
        File.SetUnixFileMode(dir.FullName, OwnerDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var socket = Path.Combine(dir.FullName, "control.sock");
        try
        {
            await using var gateway = await TestGateway.StartAsync(null, "--control-socket", socket);
            Assert.Equal(Owner, File.GetUnixFileMode(socket));

            // act 1: nobody (65534) cannot even open the 0600 socket
            var denied = await AsUid(65534, socket, "status");
            // act 2: with the file opened to everyone (a mistaken chmod), SO_PEERCRED still refuses the uid
            File.SetUnixFileMode(socket, Owner | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
            var refused = await AsUid(65534, socket, "agent", "create", "intruder");
            // act 3: the owner (root) is served
            var owner = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "status", "--json"], new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = socket });

            // assert
            Assert.Equal(3, denied.ExitCode);
            Assert.Contains("Permission denied", denied.StdErr, StringComparison.OrdinalIgnoreCase);
            Assert.True(refused.ExitCode != 0, refused.StdOut);
            Assert.Contains("owner only (forbidden)", refused.StdErr, StringComparison.Ordinal);
            Assert.Equal(0, owner.ExitCode);
            var agents = await gateway.ControlAsync(KruxOS.Core.Control.ControlProtocol.Methods.AgentList);
            Assert.DoesNotContain(agents["agents"]!.AsArray(), a => a!["name"]!.GetValue<string>() == "intruder");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Should_answer_bad_request_lines_and_refuse_an_endless_one_without_buffering_it()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(gateway.ControlSocket), TestContext.Current.CancellationToken);
        await using var stream = new System.Net.Sockets.NetworkStream(socket);
        using var reader = new StreamReader(stream);
        async Task<JsonNode> Ask(string line)
        {
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(line + "\n"), TestContext.Current.CancellationToken);
            return JsonNode.Parse((await reader.ReadLineAsync(TestContext.Current.CancellationToken))!)!;
        }

        // act + assert: wrong types, text that is not text, nesting past the JSON limit: each answered, the connection kept
        Assert.Equal("parse_error", (await Ask("""{"id":1,"method":5}"""))["error"]!["type"]!.GetValue<string>());
        Assert.Equal("parse_error", (await Ask("""{"id":2,"method":"\ud800"}"""))["error"]!["type"]!.GetValue<string>());
        Assert.Equal("parse_error", (await Ask("{\"id\":3,\"params\":" + new string('[', 5000) + new string(']', 5000) + "}"))["error"]!["type"]!.GetValue<string>());
        Assert.Equal("invalid_params", (await Ask("""{"id":4,"method":"agent.show","params":{"name":7}}"""))["error"]!["type"]!.GetValue<string>());
        Assert.True((await Ask("""{"id":5,"method":"status"}"""))["ok"]!.GetValue<bool>());

        // act: a line that never ends (8 MiB, no newline), sent while the answer is read
        var chunk = System.Text.Encoding.UTF8.GetBytes(new string('x', 64 * 1024));
        var send = Task.Run(async () =>
        {
            try { for (var i = 0; i < 128; i++) await stream.WriteAsync(chunk); }
            catch (IOException) { /* the gateway closed the connection: expected */ }
        }, TestContext.Current.CancellationToken);
        var answer = await reader.ReadLineAsync(TestContext.Current.CancellationToken);

        // assert: refused once past the 1 MiB limit, and the connection ends
        Assert.Equal("too_large", JsonNode.Parse(answer!)!["error"]!["type"]!.GetValue<string>());
        await send.WaitAsync(TestTimeouts.Call, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Should_find_the_socket_from_KRUXOS_DATA_DIR_alone()
    {
        // arrange: the gateway on its default socket, {data dir}/run/control.sock
        await using var gateway = await TestGateway.StartAsync();

        // act: the real CLI with no other KRUXOS_ variable (ProcessRunner scrubs inherited ones)
        var status = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "status", "--json"],
            new Dictionary<string, string> { ["KRUXOS_DATA_DIR"] = gateway.DataDir });

        // assert
        Assert.True(status.ExitCode == 0, status.StdErr);
        Assert.Equal(gateway.DataDir, JsonNode.Parse(status.StdOut)!["data_dir"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_find_the_socket_named_in_the_gateways_configuration_file()
    {
        // arrange: an operator file moves the control socket out of the data directory, as the appliance's does
        var dir = Directory.CreateTempSubdirectory("kruxos-config-");
        try
        {
            var socket = Path.Combine(dir.FullName, "sockets", "control.sock");
            var config = Path.Combine(dir.FullName, "gateway.json");
            await File.WriteAllTextAsync(config, new JsonObject { ["Gateway"] = new JsonObject { ["ControlSocket"] = socket } }.ToJsonString());
            await using var gateway = await TestGateway.StartAsync(null, "--control-socket", socket);

            // act: only the configuration file is named
            var status = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "status", "--json"],
                new Dictionary<string, string> { ["KRUXOS_CONFIG_FILE"] = config, ["HOME"] = dir.FullName });
            var missing = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "status"],
                new Dictionary<string, string> { ["KRUXOS_CONFIG_FILE"] = Path.Combine(dir.FullName, "absent.json"), ["HOME"] = dir.FullName });

            // assert
            Assert.True(status.ExitCode == 0, status.StdErr);
            Assert.Equal(3, missing.ExitCode);
            Assert.Contains(Path.Combine(dir.FullName, ".kruxos", "run", "control.sock"), missing.StdErr);
            Assert.Contains("default data directory", missing.StdErr);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static Task<ProcessResult> AsUid(int uid, string socket, params string[] args) =>
        ProcessRunner.RunAsync("/usr/bin/setpriv",
            ["--reuid", $"{uid}", "--regid", $"{uid}", "--clear-groups", "dotnet", ProcessRunner.CliDll, .. args],
            new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = socket, ["HOME"] = "/tmp", ["DOTNET_CLI_HOME"] = "/tmp" });

    private static uint PeerUid() => KruxOS.Gateway.Control.PeerCredentials.OwnUid();
}
