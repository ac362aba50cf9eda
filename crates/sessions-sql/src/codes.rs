//! The database error codes a session store acts on, read the same way
//! whichever sqlx version reported them.

/// SQLSTATE class 53, insufficient resources: `53100` disk full, `53200`
/// out of memory, `53400` a configured limit such as `temp_file_limit`.
/// (`53300`, too many connections, is an outage: no statement ran.)
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn postgres_full(sqlstate: &str) -> bool {
    matches!(sqlstate, "53100" | "53200" | "53400")
}

/// MySQL and MariaDB error numbers of a full table, disk or memory, and
/// the file errors that carry the operating system's `ENOSPC` (28) or
/// `EDQUOT` (122) in their text.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
pub(crate) fn mysql_full(number: u16, message: &str) -> bool {
    const FULL: [u16; 5] = [
        1114, // ER_RECORD_FILE_FULL: the table is full
        1021, // ER_DISK_FULL: disk full, waiting for room
        1037, // ER_OUTOFMEMORY
        1038, // ER_OUT_OF_SORTMEMORY
        1041, // ER_OUT_OF_RESOURCES
    ];
    // EE_WRITE, ER_ERROR_ON_WRITE, ER_GET_ERRNO, ER_TEMP_FILE_WRITE_FAILURE:
    // full only when the operating system said so.
    const WITH_ERRNO: [u16; 4] = [3, 1026, 1030, 1878];
    if FULL.contains(&number) {
        return true;
    }
    let message = message.to_ascii_lowercase();
    WITH_ERRNO.contains(&number)
        && [
            "errno: 28",
            "errcode: 28",
            "error 28",
            "errno: 122",
            "errcode: 122",
            "error 122",
            "no space left",
            "quota exceeded",
        ]
        .iter()
        .any(|said| message.contains(said))
}

/// SQLite's (extended) result codes of a full database or disk
/// (`SQLITE_FULL`, 13) and of memory running out (`SQLITE_NOMEM`, 7, and
/// `SQLITE_IOERR_NOMEM`, 3082).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn sqlite_full(code: i32) -> bool {
    matches!(code & 0xff, 13 | 7) || code == 3082
}

/// A transaction the database aborted to break a deadlock or a
/// serialization conflict (SQLSTATE 40001, or PostgreSQL's 40P01): running
/// it again is the documented remedy.
pub(crate) fn retryable(code: &str) -> bool {
    code == "40001" || code == "40P01"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_insufficient_resources_but_not_too_many_connections_are_full() {
        for code in ["53100", "53200", "53400"] {
            assert!(postgres_full(code), "{code}");
        }
        for code in ["53300", "53000", "08006", "57P01", "40001"] {
            assert!(!postgres_full(code), "{code}");
        }
    }

    #[test]
    fn mysql_full_table_disk_and_memory_errors_are_full_and_other_file_errors_are_not() {
        assert!(mysql_full(1114, "The table 'sessions' is full"));
        assert!(mysql_full(1021, "Disk full (/tmp/#sql_1.MAI); waiting for someone to free some space..."));
        assert!(mysql_full(1041, "Out of memory."));
        assert!(mysql_full(3, "Error writing file './test/sessions.ibd' (Errcode: 28 \"No space left on device\")"));
        assert!(mysql_full(1030, "Got error 28 \"No space left on device\" from storage engine InnoDB"));
        assert!(mysql_full(1026, "Error writing file '/tmp/MYfd=42' (errno: 122 \"Disk quota exceeded\")"));
        assert!(!mysql_full(1030, "Got error 5 \"Input/output error\" from storage engine InnoDB"));
        assert!(!mysql_full(3, "Error writing file 'x' (Errcode: 13 \"Permission denied\")"));
        assert!(!mysql_full(1205, "Lock wait timeout exceeded; try restarting transaction"));
        assert!(!mysql_full(2013, "Lost connection to MySQL server during query"));
    }

    #[test]
    fn sqlite_full_and_out_of_memory_codes_are_full() {
        for code in [13, 7, 3082] {
            assert!(sqlite_full(code), "{code}");
        }
        // SQLITE_BUSY, SQLITE_IOERR_WRITE, SQLITE_CANTOPEN, SQLITE_READONLY.
        for code in [5, 778, 14, 8] {
            assert!(!sqlite_full(code), "{code}");
        }
    }
}
