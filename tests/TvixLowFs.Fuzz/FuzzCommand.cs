namespace TvixLowFs.Fuzz;

// tvixlowfs-fuzz run TARGET            under afl-fuzz (SharpFuzz's fork server, persistent)
// tvixlowfs-fuzz replay TARGET FILE... each file through the target; exit 1 on a crash
// tvixlowfs-fuzz seed CORPUS_DIR       writes every target's seed corpus (CORPUS_DIR/TARGET/)
// tvixlowfs-fuzz list                  the targets' names
internal static class FuzzCommand
{
    public static int Main(string[] args)
    {
        if (args.Length >= 2 && args[0] == "run")
        {
            FuzzTarget target = FuzzTarget.Named(args[1]);
            SharpFuzz.Fuzzer.Run(stream =>
            {
                using var bytes = new MemoryStream();
                stream.CopyTo(bytes);
                target.Run(bytes.ToArray());
            });
            return 0;
        }
        if (args.Length >= 3 && args[0] == "replay")
        {
            FuzzTarget target = FuzzTarget.Named(args[1]);
            int crashes = 0;
            foreach (string file in args[2..])
            {
                try
                {
                    Console.WriteLine($"{(target.Run(File.ReadAllBytes(file)) ? "accepted" : "rejected")} {file}");
                }
                catch (Exception e)
                {
                    crashes++;
                    Console.WriteLine($"CRASH {file}: {e}");
                }
            }
            return crashes == 0 ? 0 : 1;
        }
        if (args.Length == 2 && args[0] == "seed")
        {
            foreach (FuzzTarget target in FuzzTarget.All)
            {
                string directory = Path.Combine(args[1], target.Name);
                Directory.CreateDirectory(directory);
                foreach ((string name, byte[] bytes) in target.Seeds())
                    File.WriteAllBytes(Path.Combine(directory, name), bytes);
            }
            return 0;
        }
        if (args.Length == 1 && args[0] == "list")
        {
            foreach (FuzzTarget target in FuzzTarget.All)
                Console.WriteLine(target.Name);
            return 0;
        }
        Console.Error.WriteLine("usage: tvixlowfs-fuzz run TARGET | replay TARGET FILE... | seed CORPUS_DIR | list");
        return 2;
    }
}
