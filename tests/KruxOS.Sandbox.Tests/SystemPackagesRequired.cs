// Every sandbox spec runs the real kernel sandbox as root: bubblewrap, setpriv (util-linux) and git must be installed.
// Missing ones are installed (root, apt-get) or the specs are skipped with the command to run (README, "Test it").
[assembly: KruxOS.Testing.RequiresSystemPackages("bwrap:bubblewrap", "setpriv:util-linux", "git:git", Root = true)]
