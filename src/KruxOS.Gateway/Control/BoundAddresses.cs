namespace KruxOS.Gateway.Control;

/// <summary>The ports the listeners actually bound (they may be chosen at runtime).</summary>
public sealed class BoundAddresses
{
    private readonly TaskCompletionSource _recorded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int GatewayPort { get; set; }
    public int UserApiPort { get; set; }
    public int HealthPort { get; set; }
    /// <summary>The dashboard's port; 0 when the dashboard is off.</summary>
    public int DashboardPort { get; set; }

    /// <summary>Completes once the listeners' ports are known (after start).</summary>
    public Task Recorded => _recorded.Task;

    /// <summary>Marks the ports as known.</summary>
    public void MarkRecorded() => _recorded.TrySetResult();
}
