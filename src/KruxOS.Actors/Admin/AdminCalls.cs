using Akka.Actor;
using KruxOS.Core.Admin;

namespace KruxOS.Actors.Admin;

/// <summary>The one place an admin service's unanswered Ask becomes <see cref="AdminErrors.Timeout"/>.</summary>
public static class AdminCalls
{
    /// <summary>Runs <paramref name="operation"/>; an Ask that timed out inside it is answered as a timeout error.</summary>
    public static async Task<AdminResult<T>> Guarded<T>(Func<Task<AdminResult<T>>> operation)
    {
        try
        {
            return await operation().ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return AdminErrors.Timeout;
        }
    }

    /// <summary>How long an admin request waits for an entity or the approval index (edge operations).</summary>
    public static readonly TimeSpan EdgeTimeout = TimeSpan.FromSeconds(15);
}
