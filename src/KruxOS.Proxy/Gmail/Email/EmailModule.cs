using KruxOS.Capabilities;

namespace KruxOS.Proxy.Gmail.Email;

/// <summary>
/// The <c>email.*</c> capabilities (spec §8.7, the email.md list per ADR 0055): <c>search</c> and <c>read</c> from the
/// Gmail replica (a body is fetched once, then cached), <c>send</c>, <c>delete</c>, <c>move</c> and <c>bulk_delete</c>
/// buffered in their cancellation windows, <c>draft</c> immediate. Definitions: <c>Core/Capabilities/Definitions/email.yaml</c>.
/// </summary>
public sealed class EmailModule() : CapabilityModule("email", "email");
