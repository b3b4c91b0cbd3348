using System.Text.Json;

namespace KruxOS.Core.Policy;

/// <summary>
/// Per-decision memo of canonicalised path arguments, so a path read by the protections and by several
/// conditions is decoded and canonicalised once. Two inline slots cover the common shapes
/// (<c>path</c>; <c>source</c>/<c>destination</c>); more arguments are simply recomputed.
/// </summary>
internal struct ArgumentCache
{
    private string? _name0, _path0, _name1, _path1;
    private ConditionResult _result0, _result1;

    /// <summary>Match with the canonical path; NoMatch when absent or not a string; Indeterminate when it climbs above '/'.</summary>
    public ConditionResult CanonicalPath(JsonElement arguments, string argument, out string path)
    {
        if (_name0 is not null && string.Equals(_name0, argument, StringComparison.Ordinal)) { path = _path0!; return _result0; }
        if (_name1 is not null && string.Equals(_name1, argument, StringComparison.Ordinal)) { path = _path1!; return _result1; }
        ConditionResult result;
        if (arguments.ValueKind != JsonValueKind.Object || !arguments.TryGetProperty(argument, out var value) || value.ValueKind != JsonValueKind.String)
        {
            path = string.Empty;
            result = ConditionResult.NoMatch;
        }
        else result = PolicyPaths.TryCanonicalize(value.GetString()!, out path) ? ConditionResult.Match : ConditionResult.Indeterminate;

        if (_name0 is null) { _name0 = argument; _path0 = path; _result0 = result; }
        else if (_name1 is null) { _name1 = argument; _path1 = path; _result1 = result; }
        return result;
    }
}
