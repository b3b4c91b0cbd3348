using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Cli;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Comms;

/// <summary>
/// A queued message is durable once <c>comms.send</c> answered: the real gateway process is killed with SIGKILL (no
/// shutdown, nothing flushed on the way out) and the message is still there after it starts again; so is a pause.
/// </summary>
public sealed class InboxKillSpecs
{
    [Fact]
    public async Task Should_keep_queued_messages_and_pauses_when_the_gateway_process_is_killed_with_sigkill()
    {
        // arrange
        var dataDir = Path.Combine(Directory.CreateTempSubdirectory("kruxos-inbox-kill-").FullName, "data");
        string sender, reader, paused;
        await using (var gateway = await GatewayOsProcess.StartAsync(dataDir))
        {
            var control = new ControlClient(gateway.ControlSocket);
            sender = await CreateAsync(control, "kill-sender");
            reader = await CreateAsync(control, "kill-reader");
            paused = await CreateAsync(control, "kill-paused");
            await Rpc.OkAsync(gateway.GatewayPort, sender, "comms.send", new JsonObject { ["to"] = "kill-reader", ["message"] = "survive this", ["priority"] = "high" });
            await Rpc.OkAsync(gateway.GatewayPort, sender, "comms.send", new JsonObject { ["to"] = "kill-reader", ["message"] = "and this" });
            var pause = await control.CallAsync(ControlProtocol.Methods.Pause, new JsonObject { ["name"] = "kill-paused" }, CancellationToken.None);
            Assert.True(pause.Ok, pause.ErrorMessage);

            // act: SIGKILL right after the answers
            gateway.KillHard(processTree: true);
        }

        await using var restarted = await GatewayOsProcess.StartAsync(dataDir);
        var inbox = await Rpc.OkAsync(restarted.GatewayPort, reader, "comms.receive", new JsonObject { ["limit"] = 10 });
        var stillPaused = await Rpc.ErrorAsync(restarted.GatewayPort, paused, "system.time");

        // assert
        Assert.Equal(["survive this", "and this"], inbox["messages"]!.AsArray().Select(m => m!["message"]!.GetValue<string>()));
        Assert.All(inbox["messages"]!.AsArray(), m => Assert.Equal("kill-sender", m!["from"]!.GetValue<string>()));
        Assert.Equal("SessionPaused", stillPaused["type"]!.GetValue<string>());
    }

    private static async Task<string> CreateAsync(ControlClient control, string name)
    {
        var created = await control.CallAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = name, ["purpose"] = "tests" }, CancellationToken.None);
        Assert.True(created.Ok, created.ErrorMessage);
        return created.Result!["token"]!.GetValue<string>();
    }
}
