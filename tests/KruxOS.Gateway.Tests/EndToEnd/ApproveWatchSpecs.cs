using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.EndToEnd;

/// <summary>
/// The real <c>kruxos approve watch</c> against a real gateway: from a plain pipe (JSON event lines out,
/// command lines in) and on a terminal (single key presses, through a pseudo-terminal made by <c>script</c>).
/// </summary>
public sealed class ApproveWatchSpecs
{
    private static async Task<(TestGateway Gateway, string Token)> StartAsync()
    {
        var gateway = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-approve-watch-", "bot"));
        return (gateway, await gateway.CreateAgentAsync("bot"));
    }

    // A pending request through /rpc, which answers -32002 with the request id at once.
    private static async Task<string> RequestAsync(TestGateway gateway, string token, string zone)
    {
        using var rpc = new HttpClient();
        using var req = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}/rpc")
        {
            Content = new StringContent(new JsonObject
            {
                ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
                ["params"] = new JsonObject { ["capability"] = "system.time", ["arguments"] = new JsonObject { ["timezone"] = zone } },
            }.ToJsonString(),
                Encoding.UTF8, "application/json"),
        };
        req.Headers.Authorization = new("Bearer", token);
        using var r = await rpc.SendAsync(req);
        var json = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        Assert.Equal(-32002, json["error"]!["code"]!.GetValue<int>());
        return json["error"]!["data"]!["request_id"]!.GetValue<string>();
    }

    private static async Task<string> StatusAsync(TestGateway gateway, string id) =>
        (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = id }))["status"]!.GetValue<string>();

    private static Process Start(TestGateway gateway, string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        ProcessRunner.ScrubEnvironment(psi);
        psi.Environment["KRUXOS_CONTROL_SOCKET"] = gateway.ControlSocket;
        psi.Environment["TERM"] = "dumb";
        return Process.Start(psi)!;
    }

    /// <summary>Everything a process writes to stdout, collected in the background.</summary>
    private sealed class Output
    {
        private readonly StringBuilder _seen = new();
        private readonly StringBuilder _errors = new();
        private readonly Task _pump;

        public Output(Process p)
        {
            _pump = Pump(p.StandardOutput, _seen);
            _ = Pump(p.StandardError, _errors);
        }

        private static Task Pump(StreamReader reader, StringBuilder into) => Task.Run(async () =>
        {
            var buffer = new char[4096];
            int n;
            while ((n = await reader.ReadAsync(buffer)) > 0)
                lock (into) into.Append(buffer, 0, n);
        });

        public string Text
        {
            get { lock (_seen) return _seen.ToString(); }
        }

        public string Errors
        {
            get { lock (_errors) return _errors.ToString(); }
        }

        /// <summary>True once <paramref name="text"/> has appeared; false when <paramref name="within"/> passed or stdout ended first.</summary>
        public async Task<bool> WaitForAsync(string text, TimeSpan within)
        {
            var clock = Stopwatch.StartNew();
            while (!Text.Contains(text, StringComparison.Ordinal))
            {
                if (clock.Elapsed > within || _pump.IsCompleted) return Text.Contains(text, StringComparison.Ordinal);
                await Task.Delay(50);
            }
            return true;
        }

        public async Task ExpectAsync(string text) =>
            Assert.True(await WaitForAsync(text, TestTimeouts.Call), $"'{text}' never appeared; output so far:\n{Text}\nstderr:\n{Errors}");
    }

    [Fact]
    public async Task Should_stream_approval_events_and_decide_from_command_lines_on_a_pipe()
    {
        var (gateway, token) = await StartAsync();
        await using var _ = gateway;
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        var first = await RequestAsync(gateway, token, "UTC");
        using var watch = Start(gateway, "dotnet", ProcessRunner.CliDll, "approve", "watch");
        try
        {
            var output = new Output(watch);
            // a request made while watching arrives as a JSON event line (requests made before the CLI has
            // subscribed are only in its initial list: keep asking with new arguments until one is streamed)
            string? second = null;
            foreach (var zone in new[] { "Asia/Tokyo", "Europe/Paris", "Europe/London", "Asia/Kolkata", "America/Chicago", "Africa/Cairo" })
            {
                var id = await RequestAsync(gateway, token, zone);
                if (!await output.WaitForAsync(id, TimeSpan.FromSeconds(5))) continue;
                second = id;
                break;
            }
            Assert.True(second is not null, $"no approval_requested event was streamed; output:\n{output.Text}\nstderr:\n{output.Errors}");
            var line = output.Text.Split('\n').First(l => l.Contains(second, StringComparison.Ordinal));
            Assert.Equal("approval_requested", JsonNode.Parse(line)!["type"]!.GetValue<string>());

            // a bare "a" approves the oldest pending request; "r <id> <reason>" rejects a named one
            await watch.StandardInput.WriteLineAsync("a");
            await watch.StandardInput.WriteLineAsync($"r {second} wrong zone");
            await watch.StandardInput.FlushAsync(cts.Token);
            await output.ExpectAsync($"{first} approved");
            await output.ExpectAsync($"{second} rejected");
            Assert.Equal("approved", await StatusAsync(gateway, first));
            Assert.Equal("rejected", await StatusAsync(gateway, second));
            var shown = await gateway.ControlAsync(ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = second });
            Assert.Contains("wrong zone", shown.ToJsonString());

            // nonsense is refused on stderr and decides nothing
            await watch.StandardInput.WriteLineAsync("approve everything");
            await watch.StandardInput.WriteLineAsync("q");
            await watch.StandardInput.FlushAsync(cts.Token);
            await watch.WaitForExitAsync(cts.Token);
            Assert.Equal(0, watch.ExitCode);
            Assert.Contains("usage: a|r", output.Errors);
        }
        finally
        {
            if (!watch.HasExited) watch.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Should_decide_the_selected_request_with_single_keys_on_a_terminal()
    {
        Assert.SkipUnless(File.Exists("/usr/bin/script"), "util-linux 'script' is needed to give the CLI a terminal");
        var (gateway, token) = await StartAsync();
        await using var _ = gateway;
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        var first = await RequestAsync(gateway, token, "UTC");
        var second = await RequestAsync(gateway, token, "Europe/Berlin");
        // script(1) runs the CLI on a pseudo-terminal and passes our keystrokes through unbuffered
        var command = $"stty -icanon -echo; exec dotnet '{ProcessRunner.CliDll}' approve watch";
        using var watch = Start(gateway, "/usr/bin/script", "-qfec", command, "/dev/null");
        try
        {
            var output = new Output(watch);
            await output.ExpectAsync("keys: a approve");
            await output.ExpectAsync(second);
            Assert.Contains($"> {first}", output.Text);

            // 'j' selects the second request, 'r' rejects it — no Enter needed
            await watch.StandardInput.WriteAsync("j");
            await watch.StandardInput.FlushAsync(cts.Token);
            await output.ExpectAsync($"> {second}");
            await watch.StandardInput.WriteAsync("r");
            await watch.StandardInput.FlushAsync(cts.Token);
            await output.ExpectAsync($"{second} rejected");
            // then 'a' approves what is selected now: the first
            await watch.StandardInput.WriteAsync("a");
            await watch.StandardInput.FlushAsync(cts.Token);
            await output.ExpectAsync($"{first} approved");
            Assert.Equal("rejected", await StatusAsync(gateway, second));
            Assert.Equal("approved", await StatusAsync(gateway, first));

            await watch.StandardInput.WriteAsync("q");
            await watch.StandardInput.FlushAsync(cts.Token);
            await watch.WaitForExitAsync(cts.Token);
            Assert.Equal(0, watch.ExitCode);
        }
        finally
        {
            if (!watch.HasExited) watch.Kill(entireProcessTree: true);
        }
    }
}
