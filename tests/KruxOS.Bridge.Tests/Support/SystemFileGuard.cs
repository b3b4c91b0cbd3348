namespace KruxOS.Bridge.Tests.Support;

/// <summary>
/// Puts a file at a machine-wide path (under /etc) for the length of a spec and puts everything back afterwards:
/// an earlier file's exact content and mode, and no directory it had to create. The clients read these paths
/// only, so the real path is used — carefully.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SystemFileGuard : IDisposable
{
    private readonly string _path;
    private readonly byte[]? _before;
    private readonly UnixFileMode _beforeMode;
    private readonly List<string> _created = [];

    public SystemFileGuard(string path, string content)
    {
        _path = path;
        if (File.Exists(path))
        {
            _before = File.ReadAllBytes(path);
            _beforeMode = File.GetUnixFileMode(path);
        }
        for (var dir = Path.GetDirectoryName(path); dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir)) _created.Insert(0, dir);
        foreach (var dir in _created)
        {
            Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        }
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32("644", 8));
    }

    public void Dispose()
    {
        if (_before is null) File.Delete(_path);
        else
        {
            File.WriteAllBytes(_path, _before);
            File.SetUnixFileMode(_path, _beforeMode);
        }
        for (var i = _created.Count - 1; i >= 0; i--)
            if (Directory.Exists(_created[i]) && !Directory.EnumerateFileSystemEntries(_created[i]).Any()) Directory.Delete(_created[i]);
    }
}
