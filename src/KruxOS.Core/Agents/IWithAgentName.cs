namespace KruxOS.Core.Agents;

/// <summary>Routes a message to the agent's session entity; the only thing the message extractor reads.</summary>
public interface IWithAgentName
{
    /// <summary>The agent whose session entity handles the message.</summary>
    AgentName Agent { get; }
}
