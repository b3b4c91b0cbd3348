using System.Reflection;
using Xunit.v3;

namespace KruxOS.Testing;

// Linked into the test projects that need it (it needs xunit's extensibility API, which the shared library does not reference).

/// <summary>
/// Before each spec it marks (class or assembly): installs the named system packages, or skips the spec naming them
/// (<see cref="SystemPackages"/>). Arguments are <c>program:package</c> pairs, e.g. <c>"bwrap:bubblewrap"</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method | AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class RequiresSystemPackagesAttribute(params string[] programPackages) : BeforeAfterTestAttribute
{
    /// <summary>Also require root.</summary>
    public bool Root { get; init; }

    // xunit's hook is synchronous; installing (apt-get) is bounded inside SystemPackages.
    public override void Before(MethodInfo methodUnderTest, IXunitTest test) =>
        SystemPackages.RequireAsync(Root, SystemPackages.Parse(programPackages)).GetAwaiter().GetResult();
}
