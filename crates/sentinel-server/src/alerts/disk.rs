//! Free space on the file system holding a directory, for the "disk nearly full" instance rule.

use std::path::Path;

/// Percentage of the file system's space available to Sentinel (not counting blocks reserved for
/// the superuser), or `None` if it cannot be read (the directory does not exist yet, say).
pub fn free_percent(dir: &Path) -> Option<f64> {
    let stats = fs4::statvfs(dir).ok()?;
    let total = stats.total_space();
    (total > 0).then(|| 100.0 * stats.available_space() as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_share_of_an_existing_directory_is_a_percentage_and_a_missing_one_has_none() {
        let dir = std::env::temp_dir();
        let free = free_percent(&dir).expect("temp dir is readable");
        assert!((0.0..=100.0).contains(&free), "{free}");
        assert_eq!(free_percent(Path::new("/no/such/dir/anywhere")), None);
    }
}
