using System.Globalization;
using Cronos;

namespace KruxOS.Core.Scheduling;

/// <summary>
/// A 5-field cron schedule in UTC (spec §8.12): minute 0-59, hour 0-23, day of month 1-31, month 1-12,
/// day of week 0-6 with Sunday = 0. Each field is <c>*</c>, <c>*/N</c>, a number, a range <c>a-b</c>
/// (a ≤ b), or a comma-separated list of numbers and ranges. Nothing else is accepted — no names
/// (<c>MON</c>), no <c>?</c> <c>L</c> <c>W</c> <c>#</c>, no macros (<c>@hourly</c>), no seconds field, no
/// 7 for Sunday, no steps on ranges — so an expression means the same to every reader. Our grammar is
/// checked first; Cronos (the maintained cron library) then computes occurrences.
/// <para>
/// When both day of month and day of week are restricted, a day matches if <b>either</b> matches — the
/// classic cron (Vixie, POSIX) rule that <c>crontab(5)</c> documents and that agents expect; Cronos
/// alone would require both. The schedule is then evaluated as two expressions and the earlier
/// occurrence wins.
/// </para>
/// </summary>
public sealed class CronSchedule
{
    /// <summary>Longest expression accepted.</summary>
    public const int MaxLength = 120;

    private static readonly (string Name, int Min, int Max)[] Fields =
        [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6)];

    private readonly CronExpression[] _expressions;

    private CronSchedule(string text, CronExpression[] expressions)
    {
        Text = text;
        _expressions = expressions;
    }

    /// <summary>The expression, fields separated by single spaces.</summary>
    public string Text { get; }

    /// <summary>
    /// Parses an expression. On failure <paramref name="reason"/> names the field and what is wrong (for
    /// <c>InvalidCronExpression</c>). An expression that never fires (<c>0 0 31 2 *</c>) is refused too.
    /// </summary>
    public static bool TryParse(string? expression, out CronSchedule? schedule, out string reason)
    {
        schedule = null;
        if (string.IsNullOrWhiteSpace(expression)) { reason = "the expression is empty"; return false; }
        if (expression.Length > MaxLength) { reason = $"the expression is longer than {MaxLength} characters"; return false; }
        var fields = expression.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            reason = $"expected 5 fields (minute hour day-of-month month day-of-week), got {fields.Length}";
            return false;
        }
        for (var i = 0; i < 5; i++)
            if (CheckField(fields[i], Fields[i].Name, Fields[i].Min, Fields[i].Max) is { } bad)
            {
                reason = bad;
                return false;
            }
        var text = string.Join(' ', fields);
        CronExpression[] expressions;
        try
        {
            expressions = fields[2] != "*" && fields[4] != "*"
                ? [Parse($"{fields[0]} {fields[1]} {fields[2]} {fields[3]} *"), Parse($"{fields[0]} {fields[1]} * {fields[3]} {fields[4]}")]
                : [Parse(text)];
        }
        catch (CronFormatException e)
        {
            reason = e.Message;
            return false;
        }
        var candidate = new CronSchedule(text, expressions);
        // Every valid day/month combination recurs within 8 years (29 February); none at all means never.
        if (candidate.Next(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero)) is not { } first || first.Year > 2008)
        {
            reason = "the expression never fires (no such day in the given months)";
            return false;
        }
        schedule = candidate;
        reason = string.Empty;
        return true;
    }

    /// <summary>The first occurrence strictly after <paramref name="after"/> (UTC, whole minutes); null if none.</summary>
    public DateTimeOffset? Next(DateTimeOffset after)
    {
        DateTimeOffset? best = null;
        foreach (var e in _expressions)
            if (e.GetNextOccurrence(after, TimeZoneInfo.Utc) is { } next && (best is null || next < best)) best = next;
        return best;
    }

    /// <summary>The first occurrence at or after <paramref name="from"/>.</summary>
    public DateTimeOffset? NextOrSame(DateTimeOffset from) => Next(from.AddTicks(-1));

    /// <inheritdoc />
    public override string ToString() => Text;

    private static CronExpression Parse(string text) => CronExpression.Parse(text, CronFormat.Standard);

    private static string? CheckField(string field, string name, int min, int max)
    {
        if (field == "*") return null;
        if (field.StartsWith("*/", StringComparison.Ordinal))
        {
            if (!TryNumber(field[2..], out var step) || step < 1 || step > max)
                return $"{name}: the step in '{field}' must be a number from 1 to {max}";
            return null;
        }
        foreach (var item in field.Split(','))
        {
            if (item.Length == 0) return $"{name}: empty list item in '{field}'";
            if (item.Contains('/')) return $"{name}: steps are allowed only as '*/N' ('{item}')";
            var dash = item.IndexOf('-');
            if (dash < 0)
            {
                if (!TryNumber(item, out var v) || v < min || v > max) return $"{name}: '{item}' is not a number from {min} to {max}";
                continue;
            }
            if (!TryNumber(item[..dash], out var lo) || !TryNumber(item[(dash + 1)..], out var hi) || lo < min || hi > max)
                return $"{name}: '{item}' is not a range within {min}-{max}";
            if (lo > hi) return $"{name}: the range '{item}' runs backwards";
        }
        return null;
    }

    private static bool TryNumber(string text, out int value)
    {
        value = 0;
        return text.Length is > 0 and <= 2 && text.All(char.IsAsciiDigit)
               && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
