using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Vault;
using KruxOS.Network;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Network;

/// <summary>
/// One real gateway (unlocked vault, scripted name resolution, a 16 KiB response cap) and the loopback servers its
/// agents reach, shared by <see cref="NetworkEndToEndSpecs"/>. Server A listens on 127.0.0.1:P, server B on
/// 127.0.0.2:P (same port), server C on 127.0.0.1:Q. Names: <c>svc.test</c> and <c>hop.test</c> → 127.0.0.1,
/// <c>internal.test</c> → 10.0.0.1, <c>meta.test</c> → 169.254.169.254, <c>mixed.test</c> → 127.0.0.1 and 10.0.0.1,
/// <c>rebind.test</c> → 127.0.0.1 on the first lookup and 127.0.0.2 after.
/// </summary>
public sealed class NetworkGateway : IAsyncLifetime
{
    public const string Passphrase = "correct horse battery staple";
    public const string SecretValue = "sk_live_NETWORK_spec_5f3a9c1e77";
    public const long ResponseCap = 16 * 1024; // small enough that a capped body fits the Node client's output line

    public TestGateway Gateway { get; private set; } = null!;
    public ScriptedResolver Resolver { get; } = new();
    public LoopbackServer A { get; private set; } = null!;
    public LoopbackServer B { get; private set; } = null!;
    public LoopbackServer C { get; private set; } = null!;
    public string NetBot { get; private set; } = "";
    public string SsrfBot { get; private set; } = "";
    public string NoFence { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        A = await LoopbackServer.StartAsync("A", IPAddress.Loopback);
        B = await LoopbackServer.StartAsync("B", IPAddress.Parse("127.0.0.2"), A.Port);
        C = await LoopbackServer.StartAsync("C", IPAddress.Loopback);
        var loopback = IPAddress.Loopback;
        Resolver.Map("svc.test", loopback);
        Resolver.Map("hop.test", loopback);
        Resolver.Map("internal.test", IPAddress.Parse("10.0.0.1"));
        Resolver.Map("meta.test", IPAddress.Parse("169.254.169.254"));
        Resolver.Map("mixed.test", loopback, IPAddress.Parse("10.0.0.1"));
        Resolver.Map("rebind.test", n => [n == 1 ? loopback : IPAddress.Parse("127.0.0.2")]);

        var dataDir = Directory.CreateTempSubdirectory("kruxos-network-e2e-").FullName;
        // netbot: every .test name on any port, and of the loopback only 127.0.0.1:P (server A).
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "agents", "netbot.yaml"),
            $"network:\n  allowed_domains:\n    - \"*.test:*\"\n  allowed_addresses:\n    - \"127.0.0.1:{A.Port}\"\n");
        // ssrfbot: every .test name on any port, no address rule: names that resolve to the loopback stay refused.
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "agents", "ssrfbot.yaml"),
            "network:\n  allowed_domains:\n    - \"*.test:*\"\n    - \"*:*\"\n");
        Gateway = await TestGateway.StartCustomizedAsync(b =>
        {
            b.Services.AddSingleton<IHostResolver>(Resolver);
            b.Services.AddSingleton(new NetworkOptions { MaxResponseBytes = ResponseCap });
            b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test"));
        }, dataDir);
        await Gateway.Services.GetRequiredService<PolicyStore>().Loaded.WaitAsync(TestTimeouts.Call);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Gateway.Services.GetRequiredService<VaultAdmin>().LockState != VaultLockState.Unlocked)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the vault did not unlock");
            await Task.Delay(50);
        }
        var added = await Gateway.Services.GetRequiredService<VaultAdmin>().AddAsync("echo-key", "api_key", ["network.credentialed_request"], ["svc.test"],
            Encoding.UTF8.GetBytes(SecretValue), "cli:root", CancellationToken.None);
        if (!added.IsOk) throw new InvalidOperationException(added.Error?.Message);
        NetBot = await Gateway.CreateAgentAsync("netbot");
        SsrfBot = await Gateway.CreateAgentAsync("ssrfbot");
        NoFence = await Gateway.CreateAgentAsync("nofence");
    }

    /// <summary>Runs the Node MCP SDK client with the calls (tool, JSON arguments) and returns each call's result.</summary>
    public async Task<JsonArray> CallAsync(string token, params (string Tool, JsonObject Args)[] calls)
    {
        string[] args = ["--transport", "http", "--url", Gateway.McpHttp.ToString(), "--timeout", "60000",
            .. calls.SelectMany(c => new[] { "--call", c.Tool, c.Args.ToJsonString() })];
        var run = await NodeClients.RunAsync(token, args);
        Assert.True(run["connected"]!.GetValue<bool>(), run.ToJsonString());
        return run["results"]!.AsArray();
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await A.DisposeAsync();
        await B.DisposeAsync();
        await C.DisposeAsync();
    }
}

/// <summary>
/// The network capabilities end to end, over the Node MCP SDK against loopback servers: allowed and refused
/// destinations, every server-side request forgery case (a name that resolves to the loopback, private or metadata
/// addresses, a mixed answer, numeric spellings, a rebinding name, redirects into any of them), the redirect limit, the
/// body cap, a credential echoed back, and a download whose checksum does not match.
/// </summary>
public sealed class NetworkEndToEndSpecs(NetworkGateway fixture) : IClassFixture<NetworkGateway>
{
    private static (string, JsonObject) Get(string url, bool follow = true) =>
        ("network__http_request", new JsonObject { ["url"] = url, ["follow_redirects"] = follow });

    private static string Error(JsonNode? result) =>
        result!["isError"]!.GetValue<bool>() ? result["body"]!["error"]!.GetValue<string>() : "none: " + result.ToJsonString();

    private int Hits(string server, string pathPrefix) => LoopbackServer.Seen.Count(r => r.Server == server && r.Path.StartsWith(pathPrefix, StringComparison.Ordinal));

    [Fact]
    public async Task Should_reach_an_allowed_destination_and_refuse_one_no_rule_allows_without_resolving_it()
    {
        var a = fixture.A.Port;
        var results = await fixture.CallAsync(fixture.NetBot,
            Get($"http://svc.test:{a}/hello"),
            Get($"http://127.0.0.1:{a}/hello"),
            Get($"http://evil.example:{a}/hello"),
            ("network__dns_lookup", new JsonObject { ["hostname"] = "svc.test" }),
            ("network__dns_lookup", new JsonObject { ["hostname"] = "evil-lookup.example" }),
            ("network__port_check", new JsonObject { ["host"] = "svc.test", ["port"] = a }));
        var none = await fixture.CallAsync(fixture.NoFence, Get($"http://svc.test:{a}/hello"));

        Assert.False(results[0]!["isError"]!.GetValue<bool>(), results[0]!.ToJsonString());
        Assert.Equal(200, results[0]!["body"]!["status_code"]!.GetValue<int>());
        Assert.Equal("hello from A", results[0]!["body"]!["body"]!.GetValue<string>());
        Assert.Equal($"http://svc.test:{a}/hello", results[0]!["body"]!["url"]!.GetValue<string>());
        Assert.Equal("hello from A", results[1]!["body"]!["body"]!.GetValue<string>());
        Assert.Equal("DomainNotAllowed", Error(results[2]));
        Assert.Equal("127.0.0.1", results[3]!["body"]!["addresses"]![0]!.GetValue<string>());
        Assert.Equal("DomainNotAllowed", Error(results[4]));
        Assert.True(results[5]!["body"]!["open"]!.GetValue<bool>(), results[5]!.ToJsonString());
        Assert.Equal("DomainNotAllowed", Error(none[0]));
        // A refused name is never looked up.
        Assert.Equal(0, fixture.Resolver.Lookups("evil.example"));
        Assert.Equal(0, fixture.Resolver.Lookups("evil-lookup.example"));
    }

    [Fact]
    public async Task Should_refuse_every_server_side_request_forgery_destination()
    {
        var a = fixture.A.Port;
        var c = fixture.C.Port;
        var before = LoopbackServer.Seen.Count;
        var results = await fixture.CallAsync(fixture.SsrfBot,
            Get($"http://svc.test:{a}/named"),                 // a name that resolves to 127.0.0.1, no address rule
            Get($"http://mixed.test:{a}/named"),               // a mixed answer: public-looking name, one loopback address
            Get($"http://internal.test:{a}/named"),            // private network
            Get("http://meta.test/latest/meta-data/"),         // cloud metadata by name
            Get("http://169.254.169.254/latest/meta-data/"),   // cloud metadata by address
            Get($"http://127.0.0.1:{a}/named"),                // loopback by address
            Get($"http://[::ffff:127.0.0.1]:{a}/named"),       // IPv4-mapped IPv6 spelling of the loopback
            Get($"http://0x7f000001:{a}/named"),               // hexadecimal spelling of the loopback
            Get($"http://2130706433:{a}/named"),               // decimal spelling of the loopback
            Get($"http://[::1]:{a}/named"),                    // IPv6 loopback
            Get($"http://0.0.0.0:{a}/named"),                  // "this host"
            ("network__port_check", new JsonObject { ["host"] = "svc.test", ["port"] = a }),
            ("network__port_check", new JsonObject { ["host"] = "127.0.0.1", ["port"] = c }));
        var netbot = await fixture.CallAsync(fixture.NetBot,
            Get($"http://127.0.0.1:{c}/named"),                // loopback, but not the port the address rule opens
            Get($"http://127.0.0.2:{a}/named"));               // loopback, not the address the rule opens

        for (var i = 0; i < 13; i++)
            Assert.True(Error(results[i]) == "DomainNotAllowed", $"call {i}: {results[i]!.ToJsonString()}");
        Assert.Equal("DomainNotAllowed", Error(netbot[0]));
        Assert.Equal("DomainNotAllowed", Error(netbot[1]));
        Assert.DoesNotContain(LoopbackServer.Seen.Skip(before), r => r.Path.StartsWith("/named", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_connect_to_the_checked_address_when_a_name_rebinds_after_the_check()
    {
        // rebind.test resolves to 127.0.0.1 (allowed for netbot) once, and to 127.0.0.2 (refused) on any later
        // lookup: a second resolution would reach server B.
        var results = await fixture.CallAsync(fixture.NetBot, Get($"http://rebind.test:{fixture.A.Port}/named"));

        Assert.False(results[0]!["isError"]!.GetValue<bool>(), results[0]!.ToJsonString());
        Assert.Equal("A", results[0]!["body"]!["body"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_refuse_a_redirect_to_a_private_metadata_loopback_or_unlisted_destination()
    {
        var a = fixture.A.Port;
        var c = fixture.C.Port;
        var before = LoopbackServer.Seen.Count;
        string Via(string to) => $"http://svc.test:{a}/redirect?to={Uri.EscapeDataString(to)}";
        var results = await fixture.CallAsync(fixture.NetBot,
            Get(Via($"http://internal.test:{a}/named")),
            Get(Via("http://169.254.169.254/latest/meta-data/")),
            Get(Via($"http://127.0.0.1:{c}/named")),
            Get(Via($"http://127.0.0.2:{a}/named")),
            Get(Via($"http://evil.example:{a}/named")),
            Get(Via($"http://hop.test:{a}/named")));

        for (var i = 0; i < 5; i++) Assert.Equal("DomainNotAllowed", Error(results[i]));
        Assert.Equal("A", results[5]!["body"]!["body"]!.GetValue<string>());
        Assert.Equal(1, results[5]!["body"]!["redirects"]!.GetValue<int>());
        var reached = LoopbackServer.Seen.Skip(before).Where(r => r.Path.StartsWith("/named", StringComparison.Ordinal)).ToList();
        Assert.Single(reached);
        Assert.Equal("A", reached[0].Server);
    }

    [Fact]
    public async Task Should_follow_at_most_ten_redirects()
    {
        var a = fixture.A.Port;
        var results = await fixture.CallAsync(fixture.NetBot,
            Get($"http://svc.test:{a}/chain?left=10"),
            Get($"http://svc.test:{a}/chain?left=11"),
            Get($"http://svc.test:{a}/chain?left=3", follow: false));

        Assert.Equal("end of chain", results[0]!["body"]!["body"]!.GetValue<string>());
        Assert.Equal(10, results[0]!["body"]!["redirects"]!.GetValue<int>());
        Assert.Equal("RequestFailed", Error(results[1]));
        Assert.Contains("more than 10 redirects", results[1]!["body"]!["message"]!.GetValue<string>());
        Assert.Equal(302, results[2]!["body"]!["status_code"]!.GetValue<int>());
    }

    [Fact]
    public async Task Should_refuse_a_response_body_over_the_cap_announced_or_streamed()
    {
        var a = fixture.A.Port;
        var cap = NetworkGateway.ResponseCap;
        var results = await fixture.CallAsync(fixture.NetBot,
            Get($"http://svc.test:{a}/big?n={cap}"),
            Get($"http://svc.test:{a}/big?n={cap + 1}"),
            Get($"http://svc.test:{a}/big?n={cap * 2}&chunked=1"));

        Assert.Equal(cap, results[0]!["body"]!["size"]!.GetValue<long>());
        Assert.Equal("RequestFailed", Error(results[1]));
        Assert.Equal("RequestFailed", Error(results[2]));
        Assert.Contains("larger than", results[2]!["body"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_inject_a_credential_the_agent_never_sees_even_when_the_server_echoes_it()
    {
        var a = fixture.A.Port;
        var value = NetworkGateway.SecretValue;
        var before = LoopbackServer.Seen.Count;
        var results = await fixture.CallAsync(fixture.NetBot,
            ("network__credentialed_request", new JsonObject { ["url"] = $"http://svc.test:{a}/echo", ["secret_name"] = "echo-key" }),
            ("network__credentialed_request", new JsonObject
            {
                ["url"] = $"http://svc.test:{a}/echo-redirect", ["secret_name"] = "echo-key",
                ["credential_placement"] = new JsonObject { ["type"] = "query", ["name"] = "key", ["format"] = "{secret}" },
            }),
            ("network__credentialed_request", new JsonObject { ["url"] = $"http://svc.test:{a}/redirect?to={Uri.EscapeDataString($"http://hop.test:{a}/echo")}", ["secret_name"] = "echo-key" }),
            ("network__credentialed_request", new JsonObject { ["url"] = $"http://hop.test:{a}/echo", ["secret_name"] = "echo-key" }),
            ("network__credentialed_request", new JsonObject { ["url"] = $"http://evil.example:{a}/echo", ["secret_name"] = "echo-key" }),
            ("network__credentialed_request", new JsonObject { ["url"] = $"http://svc.test:{a}/echo", ["secret_name"] = "echo-key", ["headers"] = new JsonObject { ["authorization"] = "mine" } }));

        // The server really got the credential, and the agent sees only [REDACTED] in body, headers and URL.
        var seen = LoopbackServer.Seen.Skip(before).ToList();
        Assert.Contains(seen, r => r.Path == "/echo" && r.Authorization == "Bearer " + value);
        Assert.Contains(seen, r => r.Path == "/echo?key=" + value);
        foreach (var r in results.Take(2))
        {
            Assert.False(r!["isError"]!.GetValue<bool>(), r.ToJsonString());
            Assert.DoesNotContain(value, r.ToJsonString());
            Assert.Contains("[REDACTED]", r["body"]!["body"]!.GetValue<string>());
        }
        Assert.Equal("Bearer [REDACTED]", results[0]!["body"]!["headers"]!["x-echo"]!.GetValue<string>());
        Assert.Contains("[REDACTED]", results[1]!["body"]!["url"]!.GetValue<string>());
        // A redirect to another origin drops the credential: hop.test got no Authorization.
        Assert.Contains("\"authorization\":\"\"", results[2]!["body"]!["body"]!.GetValue<string>());
        Assert.Contains(seen, r => r.Host == $"hop.test:{a}" && r.Authorization is null);
        // The secret is not for hop.test (SecretNotFound, like absent), and evil.example is not allowed at all.
        Assert.Equal("SecretNotFound", Error(results[3]));
        Assert.Equal("HostNotAllowed", Error(results[4]));
        Assert.Equal("ScopeViolation", Error(results[5]));
        Assert.DoesNotContain(value, results.ToJsonString());

        // Nothing the gateway wrote (audit, journal, logs, configuration) holds the value.
        foreach (var file in Directory.EnumerateFiles(fixture.Gateway.DataDir, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            try { bytes = await File.ReadAllBytesAsync(file); }
            catch (IOException) { continue; }
            Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(value)) < 0, $"{file} holds the secret's value");
        }
    }

    [Fact]
    public async Task Should_download_into_the_workspace_through_the_sandbox_and_delete_the_file_on_a_checksum_mismatch()
    {
        Assert.SkipUnless(Environment.UserName == "root" && File.Exists("/usr/bin/bwrap"), "the kernel sandbox needs root and bubblewrap");
        var a = fixture.A.Port;
        var workspace = fixture.Gateway.Services.GetRequiredService<KruxOS.Sandbox.SandboxHost>().WorkspaceOf(KruxOS.Core.Agents.AgentName.Parse("netbot"));
        // A directory this spec made, outside the workspace: where an escaping download would land without the path rules.
        var outside = Directory.CreateTempSubdirectory("kruxos-network-outside-").FullName;
        File.WriteAllText(Path.Combine(outside, "marker"), "spec-owned");
        var good = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes("payload-one")));
        (string, JsonObject) Download(string text, string path, string? checksum = null, bool overwrite = false)
        {
            var args = new JsonObject { ["url"] = $"http://svc.test:{a}/file?text={text}", ["path"] = path, ["overwrite"] = overwrite };
            if (checksum is not null) args["expected_checksum"] = checksum;
            return ("network__download", args);
        }

        var results = await fixture.CallAsync(fixture.NetBot,
            Download("payload-one", "/workspace/dl-ok.bin", good),
            Download("payload-two", "/workspace/dl-bad.bin", good),
            Download("payload-two", "/workspace/dl-ok.bin"),
            Download("payload-two", Path.Combine(outside, "escaped.bin")),
            Download("payload-two", "/workspace/dl-ok.bin", overwrite: true));

        try
        {
            Assert.False(results[0]!["isError"]!.GetValue<bool>(), results[0]!.ToJsonString());
            Assert.Equal(good, results[0]!["body"]!["checksum"]!.GetValue<string>());
            Assert.Equal("ChecksumMismatch", Error(results[1]));
            Assert.False(File.Exists(Path.Combine(workspace, "dl-bad.bin")), "the mismatched download is still there");
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(workspace), e => Path.GetFileName(e).StartsWith(".dl-", StringComparison.Ordinal));
            Assert.Equal("DestinationExists", Error(results[2]));
            Assert.Equal("PathOutOfScope", Error(results[3]));
            Assert.False(File.Exists(Path.Combine(outside, "escaped.bin")));
            Assert.False(results[4]!["isError"]!.GetValue<bool>(), results[4]!.ToJsonString());
            Assert.Equal("payload-two", File.ReadAllText(Path.Combine(workspace, "dl-ok.bin")));
            // Written by the sandbox as the agent's host uid, not by the gateway as root.
            Assert.NotEqual(0u, await OwnerOfAsync(Path.Combine(workspace, "dl-ok.bin")));
        }
        finally { Directory.Delete(outside, recursive: true); }
    }

    private static async Task<uint> OwnerOfAsync(string path)
    {
        var r = await ProcessRunner.RunAsync("stat", ["-c", "%u", path]);
        return uint.Parse(r.StdOut.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
