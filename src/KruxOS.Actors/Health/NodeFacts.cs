namespace KruxOS.Actors.Health;

/// <summary>Facts about this gateway node that in-process capabilities report.</summary>
public sealed record NodeFacts(string DataDirectory, DateTimeOffset StartedAt, string Version);
