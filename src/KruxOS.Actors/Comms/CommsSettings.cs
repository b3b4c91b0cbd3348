using KruxOS.Core.Comms;

namespace KruxOS.Actors.Comms;

/// <summary>Configuration of comms (<c>KruxOS:Comms</c>); every default is the domain's (<see cref="InboxLimits.Default"/>).</summary>
public sealed class CommsSettings
{
    /// <summary>Unread messages one inbox keeps. Default 1,000.</summary>
    public int InboxMaxMessages { get; set; } = InboxLimits.Default.MaxMessages;

    /// <summary>Bytes of unread messages one inbox keeps. Default 16 MiB.</summary>
    public long InboxMaxBytes { get; set; } = InboxLimits.Default.MaxBytes;

    /// <summary>Unread messages one sender may have in another agent's inbox. Default 250.</summary>
    public int InboxMaxPerSender { get; set; } = InboxLimits.Default.MaxPendingPerSender;

    /// <summary>How often <c>comms_queue_depth</c> is recounted. Default 10 s.</summary>
    public TimeSpan DepthInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The inbox limits in force; a non-positive bound is refused at start-up.</summary>
    public InboxLimits Limits()
    {
        if (InboxMaxMessages < 1 || InboxMaxBytes < 1024 || InboxMaxPerSender < 1)
            throw new ArgumentException("KruxOS:Comms inbox limits must be positive (InboxMaxBytes at least 1024)");
        return InboxLimits.Default with
        {
            MaxMessages = InboxMaxMessages,
            MaxBytes = InboxMaxBytes,
            MaxPendingPerSender = Math.Min(InboxMaxPerSender, InboxMaxMessages),
        };
    }
}
