namespace KruxOS.Bridge;

/// <summary>
/// Requests read from the client and not yet answered, in arrival order. Each remembers the connection
/// generation it was last sent on, so that after a reconnect every unanswered request is sent exactly
/// once more on the new connection (with its original id) and never twice on the same one.
/// Thread-safe.
/// </summary>
public sealed class PendingRequests(int capacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _byId = new(StringComparer.Ordinal);
    private long _sequence;

    /// <summary>One outstanding request.</summary>
    public sealed class Entry(string idKey, string method, string text, long sequence)
    {
        public string IdKey { get; } = idKey;
        public string Method { get; } = method;
        public string Text { get; internal set; } = text;
        public long Sequence { get; } = sequence;

        /// <summary>How often the request was sent again to re-attach to its approval (ADR 0058).</summary>
        public int Reattaches { get; internal set; }

        /// <summary>The connection generation it was last sent on (0 = never sent).</summary>
        public long SentGeneration { get; internal set; }
    }

    /// <summary>Most requests held at once; beyond it new requests are refused.</summary>
    public int Capacity { get; } = capacity;

    public int Count { get { lock (_gate) return _byId.Count; } }

    /// <summary>Records a request. False when it is a duplicate id still outstanding, or the table is full.</summary>
    public bool TryAdd(string idKey, string method, string text, out string refusal)
    {
        lock (_gate)
        {
            if (_byId.ContainsKey(idKey)) { refusal = "a request with this id is still outstanding"; return false; }
            if (_byId.Count >= Capacity) { refusal = $"too many outstanding requests ({Capacity}); the gateway connection is not keeping up"; return false; }
            _byId[idKey] = new Entry(idKey, method, text, ++_sequence);
            refusal = "";
            return true;
        }
    }

    /// <summary>Removes and returns the entry answered by a response; null for an unknown id (e.g. a duplicate answer).</summary>
    public Entry? Complete(string idKey)
    {
        lock (_gate)
        {
            return _byId.Remove(idKey, out var e) ? e : null;
        }
    }

    /// <summary>The outstanding entry for <paramref name="idKey"/>, or null.</summary>
    public Entry? Find(string idKey) { lock (_gate) return _byId.GetValueOrDefault(idKey); }

    /// <summary>
    /// Replaces an outstanding request's text with <paramref name="text"/> to be sent again (on this connection once it is
    /// claimed, or after a reconnect), counting the re-attach; false when it is no longer outstanding.
    /// </summary>
    public bool Rearm(string idKey, string text)
    {
        lock (_gate)
        {
            if (!_byId.TryGetValue(idKey, out var e)) return false;
            e.Text = text;
            e.SentGeneration = 0;
            e.Reattaches++;
            return true;
        }
    }

    /// <summary>Whether the id is outstanding.</summary>
    public bool Contains(string idKey) { lock (_gate) return _byId.ContainsKey(idKey); }

    /// <summary>
    /// Marks a request as sent on <paramref name="generation"/> when it is outstanding and not already
    /// sent on that generation; returns true when the caller should send it now.
    /// </summary>
    public bool ClaimForSend(string idKey, long generation)
    {
        lock (_gate)
        {
            if (!_byId.TryGetValue(idKey, out var e) || e.SentGeneration >= generation) return false;
            e.SentGeneration = generation;
            return true;
        }
    }

    /// <summary>
    /// The outstanding requests not yet sent on <paramref name="generation"/>, oldest first, each marked
    /// as sent on it. Used to re-send after a reconnect.
    /// </summary>
    public IReadOnlyList<Entry> ClaimUnsent(long generation)
    {
        lock (_gate)
        {
            var list = _byId.Values.Where(e => e.SentGeneration < generation).OrderBy(e => e.Sequence).ToList();
            foreach (var e in list) e.SentGeneration = generation;
            return list;
        }
    }

    /// <summary>Removes and returns everything outstanding (used when giving up, to answer each with an error).</summary>
    public IReadOnlyList<Entry> DrainAll()
    {
        lock (_gate)
        {
            var list = _byId.Values.OrderBy(e => e.Sequence).ToList();
            _byId.Clear();
            return list;
        }
    }
}
