using KruxOS.Core.Serialization;

namespace KruxOS.Core.Agents;

/// <summary>Who makes a call: an agent identity, or the operator acting through a user token.</summary>
public enum PrincipalKind
{
    /// <summary>An agent authenticated by its 64-hex token.</summary>
    Agent,
    /// <summary>The operator, authenticated by a <c>krx_user_…</c> token.</summary>
    User,
}

/// <summary>
/// The authenticated caller of a capability, carried into policy decisions and audit entries.
/// For <see cref="PrincipalKind.User"/> the name is the user token's label.
/// </summary>
[WireName("agent.principal.v1")]
public sealed record Principal(PrincipalKind Kind, string Name) : IKruxMessage
{
    /// <summary>A principal for an agent.</summary>
    public static Principal ForAgent(AgentName name) => new(PrincipalKind.Agent, name.Value);

    /// <summary>A principal for a user token label.</summary>
    public static Principal ForUser(string label) => new(PrincipalKind.User, label);

    /// <inheritdoc />
    public override string ToString() => $"{(Kind == PrincipalKind.Agent ? "agent" : "user")}:{Name}";
}
