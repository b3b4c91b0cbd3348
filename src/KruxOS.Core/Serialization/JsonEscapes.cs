namespace KruxOS.Core.Serialization;

/// <summary>The pieces of JSON string escapes that Core reads byte by byte (audit text and argument text checks).</summary>
internal static class JsonEscapes
{
    /// <summary>The UTF-16 code unit of the four hex digits after <c>\u</c>; false unless exactly four hex digits.</summary>
    public static bool TryParseUnit(ReadOnlySpan<byte> four, out int value)
    {
        value = 0;
        if (four.Length != 4) return false;
        foreach (var b in four)
        {
            var d = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
                _ => -1,
            };
            if (d < 0) return false;
            value = value * 16 + d;
        }
        return true;
    }
}
