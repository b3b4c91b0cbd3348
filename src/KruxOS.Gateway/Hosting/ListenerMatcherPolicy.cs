using Microsoft.AspNetCore.Routing.Matching;

namespace KruxOS.Gateway.Hosting;

/// <summary>
/// Routing picks among endpoints only those of the listener a request arrived on, so two listeners may serve the same
/// path (the User API's and the dashboard's <c>/api/…</c>). <see cref="Listeners.UseListenerGuard"/> stays behind it.
/// </summary>
public sealed class ListenerMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    /// <inheritdoc />
    public override int Order => 0;

    /// <inheritdoc />
    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) =>
        endpoints.Any(e => e.Metadata.GetMetadata<ListenerMetadata>() is not null);

    /// <inheritdoc />
    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        var listener = Listeners.Of(httpContext);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!candidates.IsValidCandidate(i)) continue;
            var wanted = candidates[i].Endpoint.Metadata.GetMetadata<ListenerMetadata>();
            if (wanted is not null && wanted.Listener != listener) candidates.SetValidity(i, false);
        }
        return Task.CompletedTask;
    }
}
