namespace KruxOS.Core;

/// <summary>
/// Marker for every protocol type that may cross a node boundary or be persisted.
/// The actor layer binds it to the KruxOS serializer (stable string manifests, System.Text.Json).
/// </summary>
public interface IKruxMessage;
