using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Control;

/// <summary>
/// Who may use the auth socket besides root and the gateway's own uid (ADR 0026): the uids configured in
/// <c>Gateway:AuthSocketUids</c> and those granted at run time over the control socket (<c>kruxos setup</c>,
/// <c>kruxos auth-socket allow</c>). Grants are kept in <c>{DataDir}/auth-socket-uids.json</c> (0600) and take effect
/// at once: the socket is read per connection, and the socket file (and a socket directory the gateway made) is opened
/// to other uids when the first one is allowed. The uid check (<c>SO_PEERCRED</c>) stays the guard.
/// </summary>
public sealed partial class AuthSocketAccess
{
    /// <summary>The grants file in the data directory.</summary>
    public const string FileName = "auth-socket-uids.json";

    private const UnixFileMode OwnerDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly GatewaySettings _gateway;
    private readonly KruxOsSettings _settings;
    private readonly ILogger<AuthSocketAccess> _log;
    private readonly Lock _gate = new();
    private readonly uint _ownUid;
    private volatile ImmutableHashSet<uint> _granted;

    public AuthSocketAccess(GatewaySettings gateway, KruxOsSettings settings, ILogger<AuthSocketAccess> log)
    {
        _gateway = gateway;
        _settings = settings;
        _log = log;
        _ownUid = OperatingSystem.IsWindows() ? 0 : PeerCredentials.OwnUid();
        Configured = [.. gateway.AuthSocketUids];
        _granted = Load();
    }

    /// <summary>The uids of <c>Gateway:AuthSocketUids</c>.</summary>
    public ImmutableHashSet<uint> Configured { get; }

    /// <summary>The uids granted at run time.</summary>
    public ImmutableHashSet<uint> Granted => _granted;

    /// <summary>Every extra uid allowed now.</summary>
    public ImmutableHashSet<uint> Allowed => Configured.Union(_granted);

    /// <summary>The grants file.</summary>
    public string FilePath => Path.Combine(_settings.DataDir, FileName);

    /// <summary>The auth socket's path.</summary>
    public string SocketPath => Path.GetFullPath(_gateway.AuthSocketPath(_settings.DataDir));

    /// <summary>The minting policy in force now (read for every connection).</summary>
    public MintPolicy Policy() => new(_gateway.MintCredentials, _ownUid, Allowed);

    /// <summary>The auth socket file's mode: 0666 once other uids are allowed (the uid check guards), else 0600.</summary>
    public string SocketMode => Allowed.IsEmpty ? "600" : "666";

    /// <summary>
    /// The mode of a socket directory the gateway creates: 0700, or 0711 when it holds the auth socket and other
    /// uids are allowed (they may traverse it, not list it). An existing directory is never changed at start.
    /// </summary>
    public UnixFileMode SocketDirectoryMode(string socketPath) =>
        !Allowed.IsEmpty && SameDirectory(socketPath, SocketPath) ? OwnerDirectory | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute : OwnerDirectory;

    /// <summary>The outcome of a change: whether anything changed, and the error when refused.</summary>
    public sealed record Change(bool Changed, string? Error, ImmutableHashSet<uint> Granted);

    /// <summary>Grants <paramref name="uid"/> (kept across restarts, in force at once).</summary>
    public Change Allow(uint uid)
    {
        lock (_gate)
        {
            if (AuthSocketGrants.CannotGrant(uid, _ownUid, _granted) is { } why) return new(false, why, _granted);
            if (_granted.Contains(uid) || Configured.Contains(uid)) return new(false, null, _granted);
            Save(_granted.Add(uid));
            OpenSocket();
            LogGranted(uid);
            return new(true, null, _granted);
        }
    }

    /// <summary>Withdraws a run-time grant (configured uids stay until the configuration changes).</summary>
    public Change Revoke(uint uid)
    {
        lock (_gate)
        {
            if (AuthSocketGrants.CannotRevoke(uid, Configured, _granted) is { } why) return new(false, why, _granted);
            Save(_granted.Remove(uid));
            if (Allowed.IsEmpty && File.Exists(SocketPath)) PeerCredentials.ChangeMode(SocketPath, Convert.ToUInt32("600", 8));
            LogRevoked(uid);
            return new(true, null, _granted);
        }
    }

    // The socket becomes connectable by others; a socket directory inside the data directory (made by the gateway,
    // 0700) becomes traversable. A directory elsewhere (the appliance's /run/kruxos, made by systemd) is left alone.
    private void OpenSocket()
    {
        if (OperatingSystem.IsWindows()) return;
        if (File.Exists(SocketPath)) PeerCredentials.ChangeMode(SocketPath, Convert.ToUInt32("666", 8));
        var dir = Path.GetDirectoryName(SocketPath)!;
        var dataDir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(_settings.DataDir));
        if (Directory.Exists(dir) && dir.StartsWith(dataDir + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            var mode = File.GetUnixFileMode(dir);
            if ((mode & UnixFileMode.OtherExecute) == 0) File.SetUnixFileMode(dir, mode | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        }
    }

    private ImmutableHashSet<uint> Load()
    {
        if (!File.Exists(FilePath)) return [];
        try
        {
            var uids = JsonNode.Parse(File.ReadAllText(FilePath))?["uids"] as JsonArray ?? throw new JsonException("no \"uids\" array");
            var set = ImmutableHashSet.CreateBuilder<uint>();
            foreach (var node in uids)
            {
                if (node is not JsonValue v || !v.TryGetValue<uint>(out var uid) || AuthSocketGrants.CannotGrant(uid, _ownUid, []) is not null)
                    throw new JsonException($"'{node?.ToJsonString()}' is not a uid that can be granted");
                set.Add(uid);
            }
            return set.ToImmutable();
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            // fail closed: nobody extra may mint until the file is fixed or the grants are made again
            LogUnreadable(FilePath, e.Message);
            return [];
        }
    }

    private void Save(ImmutableHashSet<uint> granted)
    {
        var json = new JsonObject { ["uids"] = new JsonArray([.. granted.Order().Select(u => (JsonNode)JsonValue.Create(u))]) };
        KruxOS.Gateway.Tls.NodeCertificates.WriteAtomically(FilePath, json.ToJsonString() + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _granted = granted;
    }

    private static bool SameDirectory(string a, string b) =>
        string.Equals(Path.GetDirectoryName(Path.GetFullPath(a)), Path.GetDirectoryName(Path.GetFullPath(b)), StringComparison.Ordinal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth socket: uid {Uid} may now mint credentials (granted over the control socket)")]
    private partial void LogGranted(uint uid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth socket: uid {Uid} may no longer mint credentials")]
    private partial void LogRevoked(uint uid);

    [LoggerMessage(Level = LogLevel.Error, Message = "Auth socket: {Path} cannot be read, so no granted uid may use the auth socket until it is fixed: {Reason}")]
    private partial void LogUnreadable(string path, string reason);
}
