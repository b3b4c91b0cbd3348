namespace KruxOS.Gateway.Hosting;

/// <summary>
/// Listener settings of the gateway, bound from the <c>Gateway</c> configuration section
/// (appsettings, <c>KRUXOS_GATEWAY__…</c> environment variables, or flags such as <c>--gateway-port</c>).
/// </summary>
public sealed class GatewaySettings
{
    /// <summary>Address the MCP port binds to. <b>Default</b>: 127.0.0.1 (the appliance uses 0.0.0.0).</summary>
    public string Bind { get; set; } = "127.0.0.1";

    /// <summary>MCP (WebSocket + Streamable HTTP) and JSON-RPC port. <b>Default</b>: 7700. 0 picks a free port.</summary>
    public int Port { get; set; } = 7700;

    /// <summary>User API port, always on loopback. <b>Default</b>: 7703.</summary>
    public int UserApiPort { get; set; } = 7703;

    /// <summary>Health port, always on loopback. <b>Default</b>: 7704.</summary>
    public int HealthPort { get; set; } = 7704;

    /// <summary>
    /// Web dashboard port (HTTPS with the node certificate, on the same address as <see cref="Bind"/>: loopback for a
    /// developer run, every interface on the appliance); flag <c>--dashboard-port</c>, env <c>KRUXOS_DASHBOARD_PORT</c>.
    /// -1 turns the dashboard off. <b>Default</b>: 7800.
    /// </summary>
    public int DashboardPort { get; set; } = 7800;

    /// <summary>The dashboard's sessions and approval links (<c>Gateway:Dashboard:…</c>; docs/dashboard.md).</summary>
    public DashboardSettings Dashboard { get; set; } = new();

    /// <summary>Control socket path. <b>Default</b>: <c>$KRUXOS_CONTROL_SOCKET</c> or <c>{DataDir}/run/control.sock</c>.</summary>
    public string? ControlSocket { get; set; }

    /// <summary>
    /// Auth socket path, where local programs (mcp-bridge) mint short-lived credentials for a user-token
    /// label. <b>Default</b>: <c>$KRUXOS_AUTH_SOCKET</c> or <c>{DataDir}/run/auth.sock</c> (the appliance uses
    /// <c>/run/kruxos/auth.sock</c>).
    /// </summary>
    public string? AuthSocket { get; set; }

    /// <summary>
    /// Uids allowed on the auth socket besides the gateway's own uid and root (e.g. the desktop user who runs
    /// Claude Code). <c>kruxos setup</c> / <c>kruxos auth-socket allow</c> grant more at run time (kept in the data
    /// directory; ADR 0026). When any uid is allowed the socket file is made connectable by everyone (0666) and the
    /// uid check is the guard. <b>Default</b>: none (socket mode 0600).
    /// </summary>
    public List<uint> AuthSocketUids { get; set; } = [];

    /// <summary>Whether the auth socket mints credentials at all; off answers every request "locked". <b>Default</b>: true.</summary>
    public bool MintCredentials { get; set; } = true;

    /// <summary>How long a minted credential can be used to open a connection. <b>Default</b>: 5 minutes.</summary>
    public TimeSpan SessionCredentialLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Browser origins allowed to open WebSockets (e.g. <c>https://dashboard.example</c>), besides loopback origins and
    /// the configured bind address. The request's Host is never trusted for this (DNS rebinding). <b>Default</b>: none.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>
    /// Host names (or addresses) the listeners answer for besides <c>localhost</c> and loopback addresses — and, on the
    /// gateway listener, its bind address (any address and this machine's host name when bound to 0.0.0.0 or ::). A
    /// request naming any other host gets 421 (DNS-rebinding protection, ADR 0022). List the names remote clients
    /// use, e.g. <c>kruxos.example.org</c>. Exact names only. <b>Default</b>: none.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Longest an edge waits for a call's result. <b>Default</b>: 60 s.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>WebSocket ping interval. <b>Default</b>: 30 s.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Drop a WebSocket when no pong arrives within this long after a ping. <b>Default</b>: 10 s.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// On first start, create the <c>admin</c> agent and hand its token to the operator once (see
    /// <see cref="BootstrapTokenOutput"/>). When off, no agent is created (create them with <c>kruxos agent create</c>).
    /// <b>Default</b>: true.
    /// </summary>
    public bool PrintBootstrapToken { get; set; } = true;

    /// <summary>
    /// Where the first-start token and <c>.mcp.json</c> go: <c>Auto</c> prints them when standard output is a
    /// terminal and otherwise writes <c>{DataDir}/admin.mcp.json</c> (0600) and prints only its path; <c>Stdout</c>
    /// always prints; <c>File</c> always writes the file (ADR 0014). <b>Default</b>: Auto.
    /// </summary>
    public BootstrapTokenOutput BootstrapTokenOutput { get; set; } = BootstrapTokenOutput.Auto;

    /// <summary>TLS on the MCP port (<c>Gateway:Tls:…</c>; ADR 0025).</summary>
    public GatewayTlsSettings Tls { get; set; } = new();

    /// <summary>The effective control socket path.</summary>
    public string ControlSocketPath(string dataDir) =>
        ControlSocket is { Length: > 0 } explicitPath ? explicitPath
        : Environment.GetEnvironmentVariable("KRUXOS_CONTROL_SOCKET") is { Length: > 0 } env ? env
        : Path.Combine(dataDir, "run", "control.sock");

    /// <summary>The effective auth socket path.</summary>
    public string AuthSocketPath(string dataDir) =>
        AuthSocket is { Length: > 0 } explicitPath ? explicitPath
        : Environment.GetEnvironmentVariable("KRUXOS_AUTH_SOCKET") is { Length: > 0 } env ? env
        : Path.Combine(dataDir, "run", "auth.sock");

    /// <summary>Fails fast on settings that cannot work.</summary>
    public void Validate()
    {
        foreach (var (name, port) in new[] { ("Port", Port), ("UserApiPort", UserApiPort), ("HealthPort", HealthPort) })
            if (port is < 0 or > 65535) throw new ArgumentException($"Gateway:{name} {port} is out of range");
        if (DashboardPort is < -1 or > 65535) throw new ArgumentException($"Gateway:DashboardPort {DashboardPort} is out of range (-1 turns the dashboard off)");
        Dashboard.Validate();
        if (!System.Net.IPAddress.TryParse(Bind, out _) && Bind != "localhost")
            throw new ArgumentException($"Gateway:Bind '{Bind}' is not an IP address");
        if (CallTimeout <= TimeSpan.Zero) throw new ArgumentException("Gateway:CallTimeout must be positive");
        foreach (var host in AllowedHosts)
            if (HostFilter.ValidateEntry(host) is { } why) throw new ArgumentException($"Gateway:AllowedHosts: {why}");
        if (SessionCredentialLifetime <= TimeSpan.Zero || SessionCredentialLifetime > TimeSpan.FromHours(1))
            throw new ArgumentException("Gateway:SessionCredentialLifetime must be positive and at most one hour");
        Tls.Validate();
    }
}

/// <summary>
/// TLS settings of the MCP port, bound from <c>Gateway:Tls</c>. The port always serves TLS with a node
/// certificate; plain text is served only on a loopback bind (ADR 0025).
/// </summary>
public sealed class GatewayTlsSettings
{
    /// <summary>
    /// The operator's certificate (PEM: the certificate, then any intermediates), served for the names it covers;
    /// flag <c>--tls-cert</c>, env <c>KRUXOS_TLS_CERT</c>. <b>Default</b>: none (only the generated certificate).
    /// </summary>
    public string? CertificateFile { get; set; }

    /// <summary>
    /// The private key of <see cref="CertificateFile"/> (PEM, unencrypted; not readable by other users);
    /// flag <c>--tls-key</c>, env <c>KRUXOS_TLS_KEY</c>.
    /// </summary>
    public string? KeyFile { get; set; }

    /// <summary>
    /// Extra names (DNS names or IP addresses) of this node for the generated certificate, besides localhost,
    /// 127.0.0.1, ::1, the host name and a specific bind address. A JSON array in the configuration file, or a
    /// comma-separated list (env <c>KRUXOS_TLS_NAMES</c>, flag <c>--tls-names</c>). <b>Default</b>: none.
    /// </summary>
    public List<string> Names { get; set; } = [];

    /// <summary>How often the node checks whether to renew the generated certificate or reload the operator's. <b>Default</b>: 1 hour.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Fails fast on settings that cannot work.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(CertificateFile) != string.IsNullOrEmpty(KeyFile))
            throw new ArgumentException("Gateway:Tls:CertificateFile and Gateway:Tls:KeyFile go together: set both (or neither, for the generated certificate only)");
        if (CheckInterval < TimeSpan.FromSeconds(1) || CheckInterval > TimeSpan.FromDays(1))
            throw new ArgumentException("Gateway:Tls:CheckInterval must be between 1 second and 1 day");
    }
}

/// <summary>Settings of the web dashboard's sessions and approval links, bound from <c>Gateway:Dashboard</c>.</summary>
public sealed class DashboardSettings
{
    /// <summary>A signed-in session ends after this long without a request. <b>Default</b>: 30 minutes.</summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>A signed-in session ends this long after sign-in, however active. <b>Default</b>: 12 hours.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>How long an approval link (<c>kruxos approve link</c>) can be used. <b>Default</b>: 15 minutes.</summary>
    public TimeSpan ApprovalLinkLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Fails fast on settings that cannot work.</summary>
    public void Validate()
    {
        if (SessionIdleTimeout < TimeSpan.FromMinutes(1) || SessionIdleTimeout > TimeSpan.FromHours(24))
            throw new ArgumentException("Gateway:Dashboard:SessionIdleTimeout must be between 1 minute and 24 hours");
        if (SessionLifetime < SessionIdleTimeout || SessionLifetime > TimeSpan.FromDays(7))
            throw new ArgumentException("Gateway:Dashboard:SessionLifetime must be at least the idle timeout and at most 7 days");
        if (ApprovalLinkLifetime < TimeSpan.FromMinutes(1) || ApprovalLinkLifetime > TimeSpan.FromHours(24))
            throw new ArgumentException("Gateway:Dashboard:ApprovalLinkLifetime must be between 1 minute and 24 hours");
    }
}
