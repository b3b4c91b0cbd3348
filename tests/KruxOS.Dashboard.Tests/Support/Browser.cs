using Microsoft.Playwright;
using Xunit;

namespace KruxOS.Dashboard.Tests.Support;

/// <summary>
/// Debian's chromium driven by Playwright (never Playwright's own browser download, which cannot be reached here). The
/// browser specs fail with this message when chromium is missing: <c>.ci/run</c> installs it, so a missing browser is a
/// broken machine, not a reason to skip.
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    /// <summary>Where Debian's chromium lives (<c>KRUXOS_TEST_CHROMIUM</c> overrides).</summary>
    public static string ExecutablePath => Environment.GetEnvironmentVariable("KRUXOS_TEST_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    /// <summary>Screenshots of the specs: <c>artifacts/dashboard-screenshots</c> under the test output directory.</summary>
    public static string Screenshots { get; } = Path.Combine(AppContext.BaseDirectory, "artifacts", "dashboard-screenshots");

    private IPlaywright? _playwright;

    public IBrowser Chromium { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ExecutablePath))
            throw new InvalidOperationException(
                $"Chromium is not installed at {ExecutablePath}: the dashboard's browser specs need Debian's chromium. Install it with 'apt-get install -y chromium' (.ci/run does).");
        Directory.CreateDirectory(Screenshots);
        _playwright = await Playwright.CreateAsync();
        Chromium = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            // As root (CI) chromium's own sandbox cannot start; the browser only ever loads the test gateway.
            Args = ["--no-sandbox"],
            Timeout = 60_000,
        });
    }

    /// <summary>
    /// A fresh browser context on the gateway's dashboard. The node certificate is issued by the gateway's own CA, which this
    /// throw-away browser profile does not trust, so certificate errors are ignored for it (the HTTPS specs of the API
    /// verify the chain against that CA).
    /// </summary>
    public async Task<IBrowserContext> ContextAsync(Uri dashboard, bool phone = false)
    {
        var context = await Chromium.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = dashboard.ToString().TrimEnd('/'),
            IgnoreHTTPSErrors = true,
            ViewportSize = phone ? new ViewportSize { Width = 390, Height = 844 } : new ViewportSize { Width = 1280, Height = 860 },
            IsMobile = phone,
            HasTouch = phone,
        });
        context.SetDefaultTimeout(60_000);
        return context;
    }

    /// <summary>
    /// Opens <paramref name="path"/> signed out, signs in on the page it is sent to, and waits until the page is back on
    /// <paramref name="path"/> and its document is parsed. Not the <c>load</c> event: on a loaded CI machine it was seen
    /// never to arrive within a minute after the sign-in redirect; what a spec needs next, it waits for by locator.
    /// </summary>
    public static async Task SignInAsync(IPage page, string path, string operatorToken)
    {
        await page.GotoAsync(path);
        Assert.Contains("/signin?next=" + Uri.EscapeDataString(path), page.Url, StringComparison.Ordinal); // signed out: sent to sign in
        await page.FillAsync("#token", operatorToken);
        await page.ClickAsync("#signin");
        await page.WaitForURLAsync("**" + path, new PageWaitForURLOptions { WaitUntil = WaitUntilState.DOMContentLoaded });
    }

    public async ValueTask DisposeAsync()
    {
        if (Chromium is not null) await Chromium.DisposeAsync();
        _playwright?.Dispose();
    }
}
