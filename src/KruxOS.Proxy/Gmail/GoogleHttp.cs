using System.Globalization;
using System.Net;
using System.Text.Json;

namespace KruxOS.Proxy.Gmail;

/// <summary>How a provider request ended.</summary>
public enum GoogleStatus
{
    /// <summary>2xx with a readable body.</summary>
    Ok,
    /// <summary>401: the access token is not (or no longer) valid.</summary>
    Unauthorized,
    /// <summary>404.</summary>
    NotFound,
    /// <summary>Network failure, timeout, 429 or 5xx: may go away by itself.</summary>
    Transient,
    /// <summary>Any other 4xx, or an unreadable answer: the request as such was refused.</summary>
    Permanent,
}

/// <summary>
/// A provider answer: its status class, the JSON body when ok, and a short reason for operators when not. Reasons carry
/// the HTTP status and Google's error code and message only — never a request header, URL query or body we sent.
/// </summary>
public sealed record GoogleResponse(GoogleStatus Status, JsonElement Body, string? Reason, TimeSpan? RetryAfter)
{
    /// <summary>True when ok.</summary>
    public bool Ok => Status == GoogleStatus.Ok;
}

/// <summary>Sends one request to a Google endpoint and classifies the answer; never throws for provider or network failures.</summary>
internal static class GoogleHttp
{
    /// <summary>Largest response body read (a full message with big parts stays below this; larger is refused).</summary>
    public const int MaxResponseBytes = 32 * 1024 * 1024;

    public static async Task<GoogleResponse> SendAsync(HttpClient http, HttpRequestMessage request, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new GoogleResponse(GoogleStatus.Transient, default, "timed out", null);
        }
        catch (HttpRequestException e)
        {
            return new GoogleResponse(GoogleStatus.Transient, default, "connection failed: " + (e.HttpRequestError.ToString()), null);
        }
        using (response)
        {
            JsonElement body = default;
            var readable = false;
            try
            {
                var length = response.Content.Headers.ContentLength;
                if (length is null or <= MaxResponseBytes)
                {
                    await using var stream = await response.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
                    using var limited = new MemoryStream();
                    var buffer = new byte[81920];
                    int n;
                    while ((n = await stream.ReadAsync(buffer, cts.Token).ConfigureAwait(false)) > 0)
                    {
                        if (limited.Length + n > MaxResponseBytes) { limited.SetLength(0); break; }
                        limited.Write(buffer, 0, n);
                    }
                    if (limited.Length > 0)
                    {
                        using var doc = JsonDocument.Parse(limited.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
                        body = doc.RootElement.Clone();
                        readable = true;
                    }
                    else if ((int)response.StatusCode is >= 200 and < 300)
                    {
                        readable = true; // empty 200 (revoke)
                    }
                }
            }
            catch (JsonException) { readable = false; }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return new GoogleResponse(GoogleStatus.Transient, default, "timed out reading the answer", null);
            }
            catch (HttpRequestException)
            {
                return new GoogleResponse(GoogleStatus.Transient, default, "connection lost reading the answer", null);
            }
            var code = (int)response.StatusCode;
            var retryAfter = RetryAfter(response);
            if (code is >= 200 and < 300)
                return readable ? new GoogleResponse(GoogleStatus.Ok, body, null, null)
                    : new GoogleResponse(GoogleStatus.Permanent, default, $"HTTP {code}: unreadable answer", null);
            var reason = $"HTTP {code.ToString(CultureInfo.InvariantCulture)}" + (readable ? ErrorText(body) : "");
            var status = response.StatusCode switch
            {
                HttpStatusCode.Unauthorized => GoogleStatus.Unauthorized,
                HttpStatusCode.NotFound => GoogleStatus.NotFound,
                HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout => GoogleStatus.Transient,
                _ when code >= 500 => GoogleStatus.Transient,
                _ => GoogleStatus.Permanent,
            };
            return new GoogleResponse(status, readable ? body : default, reason, retryAfter);
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var h = response.Headers.RetryAfter;
        if (h?.Delta is { } d) return d < TimeSpan.Zero ? null : d > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : d;
        if (h?.Date is { } at) { var d2 = at - DateTimeOffset.UtcNow; return d2 <= TimeSpan.Zero ? null : d2 > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : d2; }
        return null;
    }

    /// <summary>Google's error code and message (both API and OAuth shapes), cut short and stripped of control characters.</summary>
    private static string ErrorText(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object) return "";
        string? code = null, message = null;
        if (body.TryGetProperty("error", out var e))
        {
            if (e.ValueKind == JsonValueKind.String) code = e.GetString();
            else if (e.ValueKind == JsonValueKind.Object)
            {
                if (e.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String) code = s.GetString();
                if (e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String) message = m.GetString();
            }
        }
        if (message is null && body.TryGetProperty("error_description", out var d) && d.ValueKind == JsonValueKind.String) message = d.GetString();
        var text = (code is null ? "" : " " + code) + (message is null ? "" : ": " + message);
        text = new string([.. text.Where(c => !char.IsControl(c))]);
        return text.Length > 200 ? text[..200] : text;
    }
}
