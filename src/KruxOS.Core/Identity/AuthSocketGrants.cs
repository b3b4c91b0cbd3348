using System.Collections.Immutable;

namespace KruxOS.Core.Identity;

/// <summary>
/// Which extra uids may use the auth socket (ADR 0026): those listed in <c>Gateway:AuthSocketUids</c> (configuration)
/// plus those granted at run time (<c>kruxos setup</c>, <c>kruxos auth-socket allow</c>), which the gateway keeps in
/// its data directory. Root and the gateway's own uid are always allowed and are never listed.
/// </summary>
public static class AuthSocketGrants
{
    /// <summary>Most uids that may be granted at run time.</summary>
    public const int MaxGranted = 256;

    /// <summary>(uid_t)-1, which no user has.</summary>
    public const uint InvalidUid = uint.MaxValue;

    /// <summary>Why <paramref name="uid"/> cannot be granted, or null when it can.</summary>
    public static string? CannotGrant(uint uid, uint ownUid, ImmutableHashSet<uint> granted)
    {
        ArgumentNullException.ThrowIfNull(granted);
        if (uid == InvalidUid) return $"{uid} is not a user id";
        if (uid == 0) return "root may always use the auth socket";
        if (uid == ownUid) return $"uid {uid} runs the gateway and may always use the auth socket";
        if (!granted.Contains(uid) && granted.Count >= MaxGranted) return $"at most {MaxGranted} uids may be granted; revoke one first";
        return null;
    }

    /// <summary>Why <paramref name="uid"/> cannot be revoked, or null when it can.</summary>
    public static string? CannotRevoke(uint uid, ImmutableHashSet<uint> configured, ImmutableHashSet<uint> granted)
    {
        ArgumentNullException.ThrowIfNull(configured);
        ArgumentNullException.ThrowIfNull(granted);
        if (configured.Contains(uid)) return $"uid {uid} is listed in Gateway:AuthSocketUids: remove it there and restart the gateway";
        if (!granted.Contains(uid)) return $"uid {uid} was not granted";
        return null;
    }
}
