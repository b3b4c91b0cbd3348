using System.Security.Cryptography;

namespace KruxOS.Core.Sessions;

/// <summary>Session identifiers: <c>sess-</c> + 16 hex characters from a CSPRNG.</summary>
public static class SessionIds
{
    /// <summary>A new random session id.</summary>
    public static string New() => "sess-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
}
