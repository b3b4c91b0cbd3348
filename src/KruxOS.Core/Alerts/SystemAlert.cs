using KruxOS.Core.State;

namespace KruxOS.Core.Alerts;

/// <summary>
/// An alert the gateway raises about itself (a secret rotation request, an audit chain break, the sandbox unavailable,
/// dead letters, a disk nearly full). Components publish it on their node's event stream and know nothing more; the
/// alerts area subscribes on every node and turns it into an <see cref="AlertCommands.RaiseAlert"/> with the source
/// <c>system:&lt;component&gt;</c>, so identical alerts collapse there like any other.
/// </summary>
/// <param name="Component">The raising component, e.g. <c>vault</c>, <c>audit</c>, <c>sandbox</c> (lower case, no spaces).</param>
/// <param name="Severity">The severity.</param>
/// <param name="Message">What happened, for an operator.</param>
/// <param name="Context">Structured details (an object); never a secret value.</param>
public sealed record SystemAlertRaised(string Component, AlertSeverity Severity, string Message, StoredJson? Context = null);
