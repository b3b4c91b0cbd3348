using System.Text.Json.Serialization;

namespace KruxOS.Vault;

/// <summary>Receives a secret's bytes for the duration of the call.</summary>
public delegate TResult SecretFunc<in TState, out TResult>(ReadOnlySpan<byte> value, TState state);

/// <summary>
/// An opened secret, usable but not readable (spec §10.3). No property returns it; the only way to the bytes is
/// <see cref="Use{TState, TResult}"/>, which lends them to a callback (e.g. to write an <c>Authorization</c> header).
/// It prints as <c>SecretValue(N bytes)</c>, refuses JSON serialisation, and is zeroed by <see cref="Dispose"/>;
/// hold it only for the one request that needs it.
/// </summary>
[JsonConverter(typeof(NeverSerializeConverter<SecretValue>))]
public sealed class SecretValue : IDisposable
{
    private readonly Lock _gate = new();
    private readonly SecretBytes _bytes;
    private bool _disposed;

    internal SecretValue(SecretBytes bytes) => _bytes = bytes;

    /// <summary>The length in bytes (what <see cref="ToString"/> shows).</summary>
    public int Length => _bytes.Length;

    /// <summary>
    /// Lends the bytes to <paramref name="use"/> and returns its result. Whatever the callback copies out (a header
    /// string the HTTP library needs) is the callback's to keep short-lived; the scrubber covers what comes back.
    /// </summary>
    public TResult Use<TState, TResult>(TState state, SecretFunc<TState, TResult> use)
    {
        ArgumentNullException.ThrowIfNull(use);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return use(_bytes.Span, state);
        }
    }

    /// <summary>Zeroes the bytes.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _bytes.Dispose();
        }
    }

    /// <summary><c>SecretValue(N bytes)</c>: the length, never the content.</summary>
    public override string ToString() => $"SecretValue({Length} bytes)";
}
