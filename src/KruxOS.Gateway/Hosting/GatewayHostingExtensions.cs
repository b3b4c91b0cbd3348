using System.Net;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Gateway.Admin;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Dashboard;
using KruxOS.Gateway.Endpoints;
using KruxOS.Gateway.Mcp;
using KruxOS.Gateway.Telemetry;
using KruxOS.Gateway.Tls;
using KruxOS.Core.Tls;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Gateway.Hosting;

/// <summary>Composition of the gateway host: settings, listeners, services and endpoints.</summary>
public static class GatewayHostingExtensions
{
    /// <summary>Command-line flags and the configuration keys they set.</summary>
    public static readonly IReadOnlyDictionary<string, string> FlagMappings = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--data-dir"] = "KruxOS:DataDir",
        ["--gateway-port"] = "Gateway:Port",
        ["--user-api-port"] = "Gateway:UserApiPort",
        ["--health-port"] = "Gateway:HealthPort",
        ["--dashboard-port"] = "Gateway:DashboardPort",
        ["--bind"] = "Gateway:Bind",
        ["--control-socket"] = "Gateway:ControlSocket",
        ["--auth-socket"] = "Gateway:AuthSocket",
        ["--tls-cert"] = "Gateway:Tls:CertificateFile",
        ["--tls-key"] = "Gateway:Tls:KeyFile",
        ["--tls-names"] = TlsNamesKey,
        ["--otlp-endpoint"] = "Telemetry:OtlpEndpoint",
        ["--otlp-protocol"] = "Telemetry:OtlpProtocol",
        ["--cluster"] = "KruxOS:UseClustering",
        ["--cluster-port"] = "KruxOS:Cluster:Port",
        ["--cluster-host"] = "KruxOS:Cluster:Hostname",
        ["--seed-nodes"] = SeedNodesKey,
        ["--journal-provider"] = "KruxOS:Persistence:Provider",
        ["--journal-connection"] = JournalConnectionKey,
        ["--config"] = ConfigFileKey,
    };

    /// <summary>Configuration key (flag <c>--config</c>, env <c>KRUXOS_CONFIG_FILE</c>) naming an extra JSON settings file.</summary>
    public const string ConfigFileKey = "KruxOS:ConfigFile";

    /// <summary>Plain environment variables and the configuration keys they set (below flags, above appsettings).</summary>
    public static readonly IReadOnlyDictionary<string, string> EnvironmentMappings = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["KRUXOS_DATA_DIR"] = "KruxOS:DataDir",
        ["KRUXOS_GATEWAY_PORT"] = "Gateway:Port",
        ["KRUXOS_USER_API_PORT"] = "Gateway:UserApiPort",
        ["KRUXOS_HEALTH_PORT"] = "Gateway:HealthPort",
        ["KRUXOS_DASHBOARD_PORT"] = "Gateway:DashboardPort",
        ["KRUXOS_BIND"] = "Gateway:Bind",
        ["KRUXOS_CONTROL_SOCKET"] = "Gateway:ControlSocket",
        ["KRUXOS_AUTH_SOCKET"] = "Gateway:AuthSocket",
        ["KRUXOS_TLS_CERT"] = "Gateway:Tls:CertificateFile",
        ["KRUXOS_TLS_KEY"] = "Gateway:Tls:KeyFile",
        ["KRUXOS_TLS_NAMES"] = TlsNamesKey,
        ["KRUXOS_OTLP_ENDPOINT"] = "Telemetry:OtlpEndpoint",
        ["KRUXOS_OTLP_PROTOCOL"] = "Telemetry:OtlpProtocol",
        ["KRUXOS_CLUSTER"] = "KruxOS:UseClustering",
        ["KRUXOS_CLUSTER_HOST"] = "KruxOS:Cluster:Hostname",
        ["KRUXOS_CLUSTER_PORT"] = "KruxOS:Cluster:Port",
        ["KRUXOS_SEED_NODES"] = SeedNodesKey,
        ["KRUXOS_JOURNAL_PROVIDER"] = "KruxOS:Persistence:Provider",
        ["KRUXOS_JOURNAL_CONNECTION"] = JournalConnectionKey,
        ["KRUXOS_SLACK_BASE_URL"] = "KruxOS:Slack:BaseUrl",
    };

    /// <summary><c>KruxOS:Cluster:SeedNodes</c>: a JSON array in a settings file, or one comma-separated value (environment, flag).</summary>
    public const string SeedNodesKey = "KruxOS:Cluster:SeedNodes";

    /// <summary>The journal's connection string (never given a password on the command line: see <see cref="CommandLineJournalError"/>).</summary>
    public const string JournalConnectionKey = "KruxOS:Persistence:ConnectionString";

    /// <summary>Flags that are switches: given alone (<c>--cluster</c>) they mean <c>true</c>.</summary>
    public static readonly IReadOnlySet<string> SwitchFlags = new HashSet<string>(StringComparer.Ordinal) { "--cluster" };

    /// <summary>
    /// The arguments with every lone switch given its <c>true</c> (<c>--cluster --cluster-host h</c> would otherwise read
    /// <c>--cluster-host</c> as the switch's value).
    /// </summary>
    public static string[] NormalizeArgs(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var list = new List<string>(args.Length + 2);
        for (var i = 0; i < args.Length; i++)
        {
            list.Add(args[i]);
            if (SwitchFlags.Contains(args[i]) && (i + 1 == args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))) list.Add("true");
        }
        return [.. list];
    }

    /// <summary>
    /// A connection string with a password on the command line would be readable by every local user (<c>/proc/*/cmdline</c>):
    /// it is refused, naming the places a password may be given instead.
    /// </summary>
    public static string? CommandLineJournalError(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        for (var i = 0; i < args.Length; i++)
        {
            var value = args[i].StartsWith("--journal-connection=", StringComparison.Ordinal) ? args[i]["--journal-connection=".Length..]
                : args[i] == "--journal-connection" && i + 1 < args.Length ? args[i + 1] : null;
            if (value is null) continue;
            var keys = value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(p => p.Split('=', 2)[0].Trim().Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant());
            if (keys.Any(k => k is "password" or "pwd" or "psw"))
                return "--journal-connection must not carry a password (the command line is readable by every local user): put the connection string in the "
                    + "configuration file (KruxOS:Persistence:ConnectionString) or KRUXOS_JOURNAL_CONNECTION, or the password in a PostgreSQL passfile (Passfile=…)";
        }
        return null;
    }

    /// <summary>
    /// <c>Gateway:Tls:Names</c>: a JSON array in a settings file, or one comma-separated value (environment,
    /// flag), which then replaces the whole list.
    /// </summary>
    public const string TlsNamesKey = "Gateway:Tls:Names";

    /// <summary>
    /// Adds the configuration layers, lowest first: appsettings → the operator's file (<c>--config</c> /
    /// <c>KRUXOS_CONFIG_FILE</c>, e.g. <c>/etc/kruxos/gateway.json</c>) → <c>KRUXOS_</c> environment → flags.
    /// </summary>
    public static void AddKruxOsConfiguration(this ConfigurationManager configuration, string[] args)
    {
        var fromFlags = new ConfigurationBuilder().AddCommandLine(args, FlagMappings.ToDictionary()).Build();
        var file = fromFlags[ConfigFileKey] ?? Environment.GetEnvironmentVariable("KRUXOS_CONFIG_FILE");
        if (!string.IsNullOrEmpty(file)) configuration.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        configuration.AddEnvironmentVariables("KRUXOS_");
        var aliases = EnvironmentMappings
            .Select(kv => (Key: kv.Value, Value: Environment.GetEnvironmentVariable(kv.Key)))
            .Where(kv => !string.IsNullOrEmpty(kv.Value))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        configuration.AddInMemoryCollection(aliases);
        configuration.AddCommandLine(args, FlagMappings.ToDictionary());
    }

    /// <summary>Binds and validates settings, configures Kestrel's three listeners and registers every service.</summary>
    public static WebApplicationBuilder AddKruxOsGateway(this WebApplicationBuilder builder)
    {
        var kruxos = builder.Configuration.GetSection("KruxOS").Get<KruxOsSettings>() ?? new KruxOsSettings();
        var gateway = builder.Configuration.GetSection("Gateway").Get<GatewaySettings>() ?? new GatewaySettings();
        gateway.Tls.Names = ConfiguredNames(builder.Configuration.GetSection(TlsNamesKey));
        kruxos.Cluster.SeedNodes = ConfiguredNames(builder.Configuration.GetSection(SeedNodesKey));
        gateway.Validate();
        var telemetry = builder.Configuration.GetSection("Telemetry").Get<TelemetrySettings>() ?? new TelemetrySettings();
        telemetry.Validate();
        if (kruxos.UseClustering && new[] { gateway.Port, gateway.UserApiPort, gateway.HealthPort }.Contains(kruxos.Cluster.Port))
            throw new ArgumentException($"KruxOS:Cluster:Port (--cluster-port) {kruxos.Cluster.Port} is also the gateway, User API or health port; give the cluster its own port");
        // First, before any store is opened: the data directory private, earlier installs' stores tightened.
        DataDirectory.Secure(kruxos.DataDir, gateway);
        if (gateway.CallTimeout <= kruxos.ToolCallTimeout) gateway.CallTimeout = kruxos.ToolCallTimeout + TimeSpan.FromSeconds(15);

        var bind = ParseBind(gateway.Bind);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = JsonRpcEndpoint.MaxBodyBytes;
            // The certificates are loaded (or made, on first start) before the port opens; a bad operator certificate stops the start here.
            var certificates = k.ApplicationServices.GetRequiredService<NodeCertificates>();
            certificates.Initialize();
            var tlsLog = k.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("KruxOS.Gateway.Tls");
            k.Listen(bind, gateway.Port, o =>
            {
                Listeners.Tag(o, Listener.Gateway);
                o.Protocols = HttpProtocols.Http1;
                Listeners.UseTlsFirst(o, certificates, TlsRules.PlainTextAllowed(bind), tlsLog);
            });
            k.Listen(IPAddress.Loopback, gateway.UserApiPort, o => Listeners.Tag(o, Listener.UserApi));
            k.Listen(IPAddress.Loopback, gateway.HealthPort, o => Listeners.Tag(o, Listener.Health));
            // The dashboard: the gateway's address, TLS always; a plain-text request is answered with a redirect to https://
            // (on a loopback bind) or refused, and never served (Dashboard/DashboardHosting).
            if (gateway.DashboardPort >= 0)
                k.Listen(bind, gateway.DashboardPort, o =>
                {
                    Listeners.Tag(o, Listener.Dashboard);
                    o.Protocols = HttpProtocols.Http1;
                    // Plain text reaches only UseDashboardTransport, which answers 308 to https:// and serves nothing.
                    Listeners.UseTlsFirst(o, certificates, plainTextAllowed: true, tlsLog);
                });
        });

        var services = builder.Services;
        services.AddSingleton(gateway);
        services.AddSingleton<BoundAddresses>();
        services.TryAddSingleton(new CertificateClock(TimeProvider.System));
        services.AddSingleton(sp => new NodeCertificates(gateway, kruxos, sp.GetRequiredService<CertificateClock>().Time, sp.GetRequiredService<ILogger<NodeCertificates>>()));
        services.AddHostedService<CertificateRenewalService>();
        services.AddSingleton<GatewayEndpoints>();
        services.AddHostedService<RuntimeInfoPublisher>();
        services.AddKruxOsActors(kruxos);
        services.AddKruxOsTelemetry(telemetry);
        // One timeout policy for every edge: the gateway's call budget (above the run deadline), the approval hold, the hook's decision budget.
        services.Replace(ServiceDescriptor.Singleton(new DispatchTimeouts(gateway.CallTimeout, kruxos.ApprovalHoldTimeout, DispatchTimeouts.DefaultDecision)));
        services.AddSingleton(_ => new KruxOS.Audit.AuditReader(kruxos.AuditDirectory));
        services.AddSingleton(_ => new AuditIntegrity(kruxos.AuditDirectory));
        services.AddSingleton<SessionCredentialStore>();
        services.AddSingleton<UserTokenUsage>();
        services.AddSingleton<Authenticator>();
        services.AddSingleton<ToolCatalogView>();
        services.AddSingleton<McpSessionFactory>();
        services.AddSingleton<WebSocketEndpoint>();
        services.AddSingleton<StreamableHttpSessions>();
        services.AddSingleton<JsonRpcEndpoint>();
        services.AddSingleton<AuthSocketAccess>();
        services.AddAdminServices();
        services.AddDashboard(gateway);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Routing.MatcherPolicy, ListenerMatcherPolicy>());
        services.AddHostedService<ControlSocketServer>();
        services.AddHostedService<AuthSocketServer>();
        services.TryAddSingleton(_ => BootstrapConsole.Standard());
        services.AddHostedService<BootstrapService>();
        services.AddMcpServer().WithHttpTransport(o => { }); // per-session options are supplied in MapKruxOs
        services.AddOptions<ModelContextProtocol.AspNetCore.HttpServerTransportOptions>()
            .PostConfigure<StreamableHttpSessions>((o, sessions) => sessions.Configure(o));
        return builder;
    }

    /// <summary>Maps every endpoint on its listener and wires start-up bookkeeping.</summary>
    public static WebApplication MapKruxOs(this WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() => RecordBoundPorts(app));
        // The areas' checks (identity-store, audit, sandbox, ...) are in the registry already; these are the web host's own.
        var health = app.Services.GetRequiredService<HealthRegistry>();
        health.Register("gateway", _ => ValueTask.FromResult(HealthCheckResult.Healthy("accepting connections")));
        var certificates = app.Services.GetRequiredService<NodeCertificates>();
        health.Register("tls", _ => ValueTask.FromResult(certificates.Health()));
        RegisterHostPackages(app, health, app.Services.GetRequiredService<KruxOS.Sandbox.ISandbox>());
        app.Services.GetRequiredService<AgentActivity>().Start(app.Services.GetRequiredService<Akka.Actor.ActorSystem>());

        // Before anything else answers: a request naming a host this listener does not serve (DNS rebinding) gets nothing.
        app.UseHostFilter(app.Services.GetRequiredService<GatewaySettings>());
        app.UseDashboardTransport();
        app.UseWebSockets();
        app.Use(async (http, next) =>
        {
            if (http.WebSockets.IsWebSocketRequest && Listeners.Of(http) == Listener.Gateway && WebSocketEndpoint.Paths.Contains(http.Request.Path.Value))
            {
                await http.RequestServices.GetRequiredService<WebSocketEndpoint>().HandleAsync(http).ConfigureAwait(false);
                return;
            }
            await next(http).ConfigureAwait(false);
        });
        app.UseRouting();
        app.UseListenerGuard();
        app.Use(async (http, next) =>
        {
            // Streamable HTTP MCP: authenticate every request before the SDK sees it (and refuse sessions the gateway ended).
            if (Listeners.Of(http) == Listener.Gateway && http.Request.Path.StartsWithSegments("/mcp"))
            {
                await http.RequestServices.GetRequiredService<StreamableHttpSessions>().HandleAsync(http, next).ConfigureAwait(false);
                return;
            }
            await next(http).ConfigureAwait(false);
        });
        app.MapMcp("/mcp").On(Listener.Gateway);
        app.MapPost("/rpc", (HttpContext http, JsonRpcEndpoint rpc) => rpc.HandleAsync(http)).On(Listener.Gateway);
        app.MapHealth();
        app.MapKruxOsTelemetry();
        app.MapUserApi();
        app.MapDashboard();
        return app;
    }

    /// <summary>
    /// The <c>host-packages</c> health check, and one line on the console at start when a system package is missing,
    /// naming the exact <c>apt-get install</c> command (the sandbox's own check says the same in its health).
    /// </summary>
    private static void RegisterHostPackages(WebApplication app, HealthRegistry health, KruxOS.Sandbox.ISandbox sandbox)
    {
        var options = (sandbox as KruxOS.Sandbox.SandboxHost)?.Options;
        static bool OnPath(string program) =>
            (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Any(dir => File.Exists(Path.Combine(dir, program)));
        IReadOnlyList<KruxOS.Core.Control.HostRequirement> Missing() => KruxOS.Core.Control.HostPackages.Missing(
            options is { Disabled: false }, options?.BwrapPath ?? "/usr/bin/bwrap", options?.SetprivPath ?? "/usr/bin/setpriv", File.Exists, OnPath);
        health.Register("host-packages", _ =>
        {
            var missing = Missing();
            return ValueTask.FromResult(missing.Count == 0 ? HealthCheckResult.Healthy("bubblewrap, util-linux (setpriv) and git are installed")
                : missing.Any(m => m.Critical) ? HealthCheckResult.Critical(KruxOS.Core.Control.HostPackages.Summary(missing))
                : HealthCheckResult.Degraded(KruxOS.Core.Control.HostPackages.Summary(missing)));
        });
        var atStart = Missing();
        if (atStart.Count > 0)
        {
            // one line, on standard error (the journal under systemd); /health says the same under host-packages
            Console.Error.WriteLine("KruxOS: " + KruxOS.Core.Control.HostPackages.Summary(atStart));
        }
    }

    private static void RecordBoundPorts(WebApplication app)
    {
        var bound = app.Services.GetRequiredService<BoundAddresses>();
        var gateway = app.Services.GetRequiredService<GatewaySettings>();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var ports = addresses.Select(a => new Uri(a.Replace("*", "localhost", StringComparison.Ordinal)).Port).ToList();
        // Kestrel reports addresses in listen order: gateway, user API, health.
        bound.GatewayPort = ports.ElementAtOrDefault(0) is > 0 and var g ? g : gateway.Port;
        bound.UserApiPort = ports.ElementAtOrDefault(1) is > 0 and var u ? u : gateway.UserApiPort;
        bound.HealthPort = ports.ElementAtOrDefault(2) is > 0 and var h ? h : gateway.HealthPort;
        bound.DashboardPort = gateway.DashboardPort < 0 ? 0 : ports.ElementAtOrDefault(3) is > 0 and var d ? d : gateway.DashboardPort;
        bound.MarkRecorded();
        app.Logger.LogInformation("KruxOS gateway listening: MCP {Bind}:{Gateway} ({Transport}), User API 127.0.0.1:{UserApi}, health 127.0.0.1:{Health}, dashboard {Dashboard}",
            gateway.Bind, bound.GatewayPort, TlsRules.PlainTextAllowed(ParseBind(gateway.Bind)) ? "wss:// and https://; ws:// and http:// on this loopback bind" : "wss:// and https:// only; plain text refused",
            bound.UserApiPort, bound.HealthPort, bound.DashboardPort > 0 ? $"https://{gateway.Bind}:{bound.DashboardPort}" : "off");
    }

    private static IPAddress ParseBind(string bind) => bind == "localhost" ? IPAddress.Loopback : IPAddress.Parse(bind);

    /// <summary>The TLS names: the section's own value split on commas (environment, flag), else its array items.</summary>
    internal static List<string> ConfiguredNames(IConfigurationSection section) =>
        section.Value is { } joined
            ? [.. joined.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]
            : [.. section.GetChildren().Select(c => c.Value).OfType<string>().Select(v => v.Trim()).Where(v => v.Length > 0)];
}
