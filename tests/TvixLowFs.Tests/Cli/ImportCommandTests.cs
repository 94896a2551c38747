using System.Diagnostics;
using System.Net.Sockets;
using NUnit.Framework;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Store;
using static TvixLowFs.Tests.Store.TestTrees;

namespace TvixLowFs.Tests.Cli;

/// <summary><c>tvixlowfs import</c> against real trees on disk, checked against an independent NAR and store path.</summary>
public sealed class ImportCommandTests
{
    private string _work = null!;
    private Dictionary<string, string> _environment = null!;

    /// <summary>The default store the environment below points at.</summary>
    private string StoreDirectory => Path.Join(_work, "xdg", "tvixlowfs");

    [SetUp]
    public void SetUp()
    {
        _work = Path.Join(Path.GetTempPath(), "tvixlowfs-import-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Path.Join(_work, "src"));
        _environment = new Dictionary<string, string>
        {
            ["XDG_DATA_HOME"] = Path.Join(_work, "xdg"),
            ["HOME"] = Path.Join(_work, "home"),
        };
    }

    [TearDown]
    public void TearDown()
    {
        if (System.IO.Directory.Exists(_work))
            System.IO.Directory.Delete(_work, recursive: true);
    }

    private string Source(string name, TreeNode tree)
    {
        string path = Path.Join(_work, "src", name);
        Materialize(tree, path);
        return path;
    }

    private static string Expected(string path) => CliRunner.NixAddPath(NaiveNar.OfPath(path), Path.GetFileName(path));

    private Task<CliResult> ImportAsync(params string[] paths) => CliRunner.RunAsync(_environment, ["import", .. paths]);

    private StoreServices OpenStore(string? directory = null) =>
        new StoreOpener().Open(StoreAddress.ForLocalDirectory(directory ?? StoreDirectory));

    private IEnumerable<string> StoredFiles(string kind) =>
        System.IO.Directory.Exists(Path.Join(StoreDirectory, kind))
            ? System.IO.Directory.EnumerateFiles(Path.Join(StoreDirectory, kind), "*", SearchOption.AllDirectories)
            : [];

    [Test]
    public async Task A_real_tree_gets_the_nix_store_add_path_and_a_complete_path_info()
    {
        string path = Source("sample-tree", Sample());
        byte[] nar = NaiveNar.OfPath(path);
        string expected = CliRunner.NixAddPath(nar, "sample-tree");

        CliResult result = await ImportAsync(path);

        Assert.That(result, Is.EqualTo(new CliResult(0, expected + "\n", "")));
        await using StoreServices store = OpenStore();
        TvixLowFs.Store.Model.StorePath storePath = TvixLowFs.Store.Model.StorePath.ParseAbsolute(expected);
        PathInfo pathInfo = (await store.PathInfos.GetAsync(storePath.Hash))!;
        Assert.That(pathInfo.Node.Directory.Name.ToStringUtf8(), Is.EqualTo(storePath.Basename));
        Assert.That(pathInfo.References, Is.Empty);
        Assert.That(pathInfo.Narinfo.NarSize, Is.EqualTo((ulong)nar.Length));
        Assert.That(Convert.ToHexStringLower(pathInfo.Narinfo.NarSha256.Span), Is.EqualTo(NaiveNar.Sha256Hex(nar)));
        NarHash recomputed = await store.PathInfos.CalculateNarAsync(pathInfo.Node);
        Assert.That(Convert.ToHexStringLower(recomputed.NarSha256), Is.EqualTo(NaiveNar.Sha256Hex(nar)));
    }

    public static IEnumerable<TestCaseData> SingleNodes()
    {
        yield return new TestCaseData("plain.txt", TreeFile.Text("plain\n"), UnixFileMode.None);
        yield return new TestCaseData("tool.sh", TreeFile.Text("#!/bin/sh\n", executable: true), UnixFileMode.None);
        // Nix looks at the owner's execute bit only: group/other execute alone is not executable.
        yield return new TestCaseData("group-x", TreeFile.Text("x\n"), UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        yield return new TestCaseData("empty", new TreeFile([]), UnixFileMode.None);
        yield return new TestCaseData("link", new TreeSymlink("../somewhere/else"), UnixFileMode.None);
        yield return new TestCaseData("empty-dir", TreeDirectory.Of(), UnixFileMode.None);
        yield return new TestCaseData("big.bin", new TreeFile(Pattern(3_000_017)), UnixFileMode.None);
        yield return new TestCaseData("with+odd=chars?_.-", TreeFile.Text("ok\n"), UnixFileMode.None);
    }

    [TestCaseSource(nameof(SingleNodes))]
    public async Task A_single_node_gets_the_nix_store_add_path(string name, TreeNode tree, UnixFileMode extraMode)
    {
        string path = Source(name, tree);
        if (extraMode != UnixFileMode.None)
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) | extraMode);

        CliResult result = await ImportAsync(path);

        Assert.That(result, Is.EqualTo(new CliResult(0, Expected(path) + "\n", "")));
    }

    [Test]
    public async Task Several_paths_print_one_line_each_in_order()
    {
        string a = Source("a", TreeFile.Text("a"));
        string b = Source("b", Sample());
        string c = Source("c", new TreeSymlink("a"));

        CliResult result = await ImportAsync(b, a, c, b);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.Error);
        Assert.That(result.OutLines, Is.EqualTo(new[] { Expected(b), Expected(a), Expected(c), Expected(b) }));
    }

    [Test]
    public async Task A_relative_path_and_a_trailing_slash_name_the_same_store_path()
    {
        string path = Source("rel-tree", Sample());
        string previous = Environment.CurrentDirectory;
        // The working directory is process-wide, so this test resolves the relative path itself.
        string relative = Path.GetRelativePath(previous, path);
        CliResult result = await ImportAsync(relative + "/", path);
        Assert.That(result.OutLines, Is.EqualTo(new[] { Expected(path), Expected(path) }));
    }

    [Test]
    public async Task Importing_twice_prints_the_same_path_and_rewrites_nothing()
    {
        string path = Source("twice", Sample());
        CliResult first = await ImportAsync(path);
        Dictionary<string, DateTime> before = Snapshot();

        CliResult second = await ImportAsync(path);

        Assert.That(second, Is.EqualTo(first));
        Assert.That(Snapshot(), Is.EqualTo(before));
        Assert.That(System.IO.Directory.EnumerateFileSystemEntries(Path.Join(StoreDirectory, "tmp")), Is.Empty);

        Dictionary<string, DateTime> Snapshot() =>
            System.IO.Directory.EnumerateFiles(StoreDirectory, "*", SearchOption.AllDirectories)
                .ToDictionary(f => f, File.GetLastWriteTimeUtc);
    }

    private static readonly System.Collections.Concurrent.ConcurrentBag<Socket> OpenSockets = [];

    [OneTimeTearDown]
    public void CloseSockets()
    {
        while (OpenSockets.TryTake(out Socket? socket))
            socket.Dispose();
    }

    public static IEnumerable<TestCaseData> BadInputs()
    {
        // Each case: builds the input under src/ and returns (path given, offending path, expected words).
        yield return new TestCaseData(new Func<string, (string, string, string)>(src =>
        {
            string missing = Path.Join(src, "missing");
            return (missing, missing, "no such file");
        })).SetArgDisplayNames("missing path");
        yield return new TestCaseData(new Func<string, (string, string, string)>(src =>
        {
            string tree = Path.Join(src, "with-fifo");
            Materialize(Sample(), tree);
            string fifo = Path.Join(tree, "nested", "a-fifo");
            Process.Start("mkfifo", [fifo])!.WaitForExit();
            return (tree, fifo, "fifo");
        })).SetArgDisplayNames("fifo inside the tree");
        yield return new TestCaseData(new Func<string, (string, string, string)>(src =>
        {
            string tree = Path.Join(src, "with-socket");
            Materialize(Sample(), tree);
            string socketPath = Path.Join(tree, "bin", "a.sock");
            // .NET removes a bound socket's file when the socket is disposed: keep it open for the test.
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(socketPath));
            OpenSockets.Add(socket);
            return (tree, socketPath, "socket");
        })).SetArgDisplayNames("socket inside the tree");
        yield return new TestCaseData(new Func<string, (string, string, string)>(_ => ("/dev/null", "/dev/null", "character device")))
            .SetArgDisplayNames("device");
        yield return new TestCaseData(new Func<string, (string, string, string)>(src =>
        {
            string spaced = Path.Join(src, "has space");
            File.WriteAllText(spaced, "x");
            return (spaced, spaced, "not a valid store path name");
        })).SetArgDisplayNames("space in the name");
        yield return new TestCaseData(new Func<string, (string, string, string)>(src =>
        {
            string dotted = Path.Join(src, ".hidden");
            File.WriteAllText(dotted, "x");
            return (dotted, dotted, "not a valid store path name");
        })).SetArgDisplayNames("name starting with a dot");
        yield return new TestCaseData(new Func<string, (string, string, string)>(src => (src + "/.", src + "/.", "not a valid store path name")))
            .SetArgDisplayNames("a path ending in a dot");
        yield return new TestCaseData(new Func<string, (string, string, string)>(_ => ("/", "/", "not a valid store path name")))
            .SetArgDisplayNames("the root directory");
        // Tests run as root, which reads any file whatever its mode; /proc/self/mem fails every read at offset 0.
        yield return new TestCaseData(new Func<string, (string, string, string)>(_ => ("/proc/self/mem", "/proc/self/mem", "cannot read")))
            .SetArgDisplayNames("unreadable file");
    }

    [TestCaseSource(nameof(BadInputs))]
    public async Task Bad_input_is_one_line_naming_the_offending_path_and_registers_nothing(Func<string, (string, string, string)> make)
    {
        (string given, string offending, string words) = make(Path.Join(_work, "src"));
        string good = Source("good", TreeFile.Text("fine"));

        // The good path comes first: it must not be registered either.
        CliResult result = await ImportAsync(good, given);

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Out, Is.Empty);
        Assert.That(result.Error.TrimEnd('\n'), Does.Not.Contain("\n"));
        Assert.That(result.Error, Does.StartWith("tvixlowfs: ").And.Contain($"'{offending}'").And.Contain(words));
        Assert.That(StoredFiles("pathinfos"), Is.Empty);
    }

    [TestCase("file")]
    [TestCase("directory")]
    public async Task Something_the_user_may_not_read_is_named_and_registers_nothing(string what)
    {
        string tree = Source("tree", Sample());
        string locked = what == "file" ? Path.Join(tree, "nested", "a-file") : Path.Join(tree, "nested", "deeper");
        if (what == "file")
            File.WriteAllText(locked, "secret");
        File.SetUnixFileMode(locked, UnixFileMode.None);

        CliResult result;
        if (Environment.IsPrivilegedProcess)
        {
            // root reads anything: run the import as nobody, with a store and home it may write.
            foreach (string directory in new[] { Path.Join(_work, "xdg"), Path.Join(_work, "home") })
            {
                System.IO.Directory.CreateDirectory(directory);
                File.SetUnixFileMode(directory, (UnixFileMode)0x1FF);
            }
            _environment["DOTNET_CLI_HOME"] = Path.Join(_work, "home");
            result = await CliRunner.RunWrappedAsync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], _environment, "import", tree);
        }
        else
        {
            result = await ImportAsync(tree);
        }

        Assert.That(result, Is.EqualTo(new CliResult(1, "",
            $"tvixlowfs: cannot import '{locked}': {(what == "file" ? "cannot open the file" : "cannot list the directory")}: permission denied\n")));
        Assert.That(StoredFiles("pathinfos"), Is.Empty);
    }

    [Test]
    public async Task A_bad_store_address_is_one_line_naming_it()
    {
        string path = Source("x", TreeFile.Text("x"));
        CliResult result = await CliRunner.RunAsync(_environment, "--directory-service-addr", "foo://bar", "import", path);
        Assert.That(result, Is.EqualTo(new CliResult(1, "",
            $"tvixlowfs: invalid store address 'foo://bar': unknown scheme 'foo'; expected {StoreAddress.Forms}\n")));
    }

    [Test]
    public async Task A_bad_address_in_the_environment_is_named_too()
    {
        string path = Source("x", TreeFile.Text("x"));
        _environment["PATH_INFO_SERVICE_ADDR"] = "local://relative";
        CliResult result = await ImportAsync(path);
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain("'local://relative'"));
    }

    [TestCase("frobnicate", "x")]
    [TestCase("--no-such-flag", "import", "x")]
    [TestCase("--log-level", "loud", "import", "x")]
    [TestCase("import")]
    public async Task A_command_line_that_does_not_parse_is_a_usage_error(params string[] args)
    {
        CliResult result = await CliRunner.RunAsync(_environment, args);
        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Error, Does.StartWith("tvixlowfs: ").And.EndWith("(see tvixlowfs --help)\n"));
        Assert.That(result.Error.TrimEnd('\n'), Does.Not.Contain("\n"));
    }

    [Test]
    public async Task Help_lists_import_and_the_address_options()
    {
        CliResult result = await CliRunner.RunAsync(_environment, "--help");
        Assert.That(result.ExitCode, Is.EqualTo(0));
        Assert.That(result.Out, Does.Contain("import").And.Contain("--blob-service-addr").And.Contain("--path-info-service-addr"));
    }

    [Test]
    public async Task Without_xdg_data_home_the_store_is_under_home()
    {
        _environment.Remove("XDG_DATA_HOME");
        string path = Source("x", TreeFile.Text("x"));
        CliResult result = await ImportAsync(path);
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Error);
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Join(_work, "home", ".local", "share", "tvixlowfs", "pathinfos")).Count(), Is.EqualTo(1));
    }

    [Test]
    public async Task Environment_and_flags_choose_each_service_and_the_flag_wins()
    {
        string blobs = Path.Join(_work, "blobs-store");
        string flagged = Path.Join(_work, "flagged-store");
        _environment["BLOB_SERVICE_ADDR"] = "local://" + blobs;
        _environment["DIRECTORY_SERVICE_ADDR"] = "local://" + blobs;
        string path = Source("tree", Sample());

        CliResult result = await CliRunner.RunAsync(_environment, "--directory-service-addr", "local://" + flagged, "import", path);

        Assert.That(result, Is.EqualTo(new CliResult(0, Expected(path) + "\n", "")));
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Join(blobs, "blobs"), "*", SearchOption.AllDirectories), Is.Not.Empty);
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Join(blobs, "directories"), "*", SearchOption.AllDirectories), Is.Empty);
        Assert.That(System.IO.Directory.EnumerateFiles(Path.Join(flagged, "directories"), "*", SearchOption.AllDirectories), Is.Not.Empty);
        Assert.That(StoredFiles("pathinfos").Count(), Is.EqualTo(1), "PathInfos stay in the default store");
        Assert.That(StoredFiles("blobs"), Is.Empty);
    }

    [Test]
    public async Task A_memory_store_works_for_a_single_invocation()
    {
        string path = Source("tree", Sample());
        CliResult result = await CliRunner.RunAsync(_environment,
            "--blob-service-addr", "memory://", "--directory-service-addr", "memory://", "--path-info-service-addr", "memory://", "import", path);
        Assert.That(result, Is.EqualTo(new CliResult(0, Expected(path) + "\n", "")));
        Assert.That(System.IO.Directory.Exists(StoreDirectory), Is.False);
    }

    [Test]
    public async Task Progress_goes_to_a_terminal_stderr_only()
    {
        string path = Source("tree", Sample());
        var error = new StringWriter();
        var context = new TvixLowFs.Cli.CliContext
        {
            Out = new StringWriter(),
            Error = error,
            Environment = name => _environment.TryGetValue(name, out string? value) ? value : null,
            ErrorIsTerminal = true,
        };
        Assert.That(await TvixLowFs.Cli.Program.RunAsync(["import", path], context), Is.EqualTo(0));
        Assert.That(error.ToString(), Does.Contain("importing " + path).And.Contain("6/6 files"));
        Assert.That(context.Out.ToString(), Is.EqualTo(Expected(path) + "\n"));
    }

    // ---- the built binary, in child processes ----

    [Test]
    public async Task The_built_cli_prints_the_same_path()
    {
        string path = Source("child-tree", Sample());
        CliResult result = await CliRunner.RunProcessAsync(_environment, "import", path);
        Assert.That(result, Is.EqualTo(new CliResult(0, Expected(path) + "\n", "")));
    }

    [Test]
    public async Task Two_processes_importing_into_one_store_at_once_both_succeed()
    {
        string shared = Source("shared", Sample());
        string first = Source("first", TreeDirectory.Of(("big", new TreeFile(Pattern(4_000_000, seed: 5))), ("copy", Sample())));
        string second = Source("second", TreeDirectory.Of(("big", new TreeFile(Pattern(4_000_000, seed: 6))), ("copy", Sample())));

        Task<CliResult> a = CliRunner.RunProcessAsync(_environment, "import", first, shared);
        Task<CliResult> b = CliRunner.RunProcessAsync(_environment, "import", second, shared);
        CliResult[] results = await Task.WhenAll(a, b);

        Assert.That(results[0], Is.EqualTo(new CliResult(0, $"{Expected(first)}\n{Expected(shared)}\n", "")));
        Assert.That(results[1], Is.EqualTo(new CliResult(0, $"{Expected(second)}\n{Expected(shared)}\n", "")));
        Assert.That(StoredFiles("pathinfos").Count(), Is.EqualTo(3));
        Assert.That(System.IO.Directory.EnumerateFileSystemEntries(Path.Join(StoreDirectory, "tmp")), Is.Empty);
        foreach (string blob in StoredFiles("blobs"))
            Assert.That(B3Digest.Compute(File.ReadAllBytes(blob)).ToHex(), Is.EqualTo(Path.GetFileName(blob)));
    }

    [Test]
    public async Task A_process_killed_during_a_large_write_leaves_no_visible_partial_object()
    {
        // A sparse 16 GiB file: storing it takes far longer than the moment the test needs to kill the import.
        string big = Path.Join(_work, "src", "huge");
        using (FileStream file = File.Create(big))
            file.SetLength(16L << 30);
        string tmp = Path.Join(StoreDirectory, "tmp");

        using (Process import = CliRunner.Start(_environment, "import", big))
        {
            try
            {
                // Wait until the blob write is well under way: a temp blob file of 8 MiB or more.
                while (!System.IO.Directory.Exists(tmp)
                       || !System.IO.Directory.EnumerateFiles(tmp, "blob-*").Any(f => new FileInfo(f).Length >= 8 << 20))
                {
                    if (import.HasExited)
                        Assert.Fail("the import ended before it could be killed: " + import.StandardError.ReadToEnd());
                    await Task.Delay(10);
                }
            }
            finally
            {
                import.Kill(entireProcessTree: true);
                await import.WaitForExitAsync();
            }
        }

        Assert.That(StoredFiles("blobs"), Is.Empty, "no blob appears under a final name");
        Assert.That(StoredFiles("pathinfos"), Is.Empty);
        Assert.That(System.IO.Directory.EnumerateFiles(tmp).Count(), Is.EqualTo(1), "the partial write stays a temp file");

        // The store is still usable by the next process.
        string small = Source("after-crash", Sample());
        Assert.That(await ImportAsync(small), Is.EqualTo(new CliResult(0, Expected(small) + "\n", "")));
    }
}
