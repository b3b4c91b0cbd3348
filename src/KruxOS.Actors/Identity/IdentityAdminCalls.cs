using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Core.Identity;

namespace KruxOS.Actors.Identity;

/// <summary>Asks the identity registry one command on behalf of an admin service (agents, user tokens).</summary>
public sealed class IdentityAdminCalls(IRequiredActor<IdentityRegistry> identity)
{
    /// <summary>Sends <paramref name="command"/> and waits for the registry's answer (the edge timeout; an expired wait throws <see cref="AskTimeoutException"/>).</summary>
    public async Task<IdentityResult> AskAsync(IIdentityCommand command, CancellationToken ct)
    {
        var registry = await identity.GetAsync(ct).ConfigureAwait(false);
        return await registry.Ask<IdentityResult>(command, AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
    }
}
