package deploymanager.hadoop;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's local file system, with permissions set through java.nio.
 *
 * <p>Without Hadoop's native library, which the pyspark wheel does not ship, RawLocalFileSystem
 * starts a chmod process for every file and folder it creates, about 6 ms each (measured here).
 * A write of one mart at 100 (date, site) partitions took 1.6 s with it and 0.7 s with this
 * class. Named by fs.file.impl in the Spark configuration. Only the nine rwx bits are set, because
 * nothing here uses the sticky bit.
 */
public class LocalFileSystemWithoutShell extends LocalFileSystem {
  public LocalFileSystemWithoutShell() {
    super(new Raw());
  }

  /** The raw (checksum-less) file system that LocalFileSystem wraps. */
  public static class Raw extends RawLocalFileSystem {
    // Bit i of a POSIX mode, lowest first.
    private static final PosixFilePermission[] MODE_BITS = {
      PosixFilePermission.OTHERS_EXECUTE,
      PosixFilePermission.OTHERS_WRITE,
      PosixFilePermission.OTHERS_READ,
      PosixFilePermission.GROUP_EXECUTE,
      PosixFilePermission.GROUP_WRITE,
      PosixFilePermission.GROUP_READ,
      PosixFilePermission.OWNER_EXECUTE,
      PosixFilePermission.OWNER_WRITE,
      PosixFilePermission.OWNER_READ,
    };

    @Override
    public void setPermission(Path path, FsPermission permission) throws IOException {
      short mode = permission.toShort();
      Set<PosixFilePermission> granted = EnumSet.noneOf(PosixFilePermission.class);
      for (int bit = 0; bit < MODE_BITS.length; bit++) {
        if ((mode & (1 << bit)) != 0) {
          granted.add(MODE_BITS[bit]);
        }
      }
      Files.setPosixFilePermissions(pathToFile(path).toPath(), granted);
    }
  }
}
