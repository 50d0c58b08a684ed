//! A generated lead file: valid numbers in the spellings people use, a few
//! bad rows and some duplicates, deterministic from a seed.

pub struct File {
    pub csv: String,
    pub rows: usize,
    pub bad: usize,
    pub duplicates: usize,
}

/// A small deterministic generator (xorshift), so every demo uploads the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Asha", "Ravi", "Mei", "Omar", "Lena", "Tariq", "Sofia", "Kwame",
    "Yuki",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Iyer", "Sharma", "Chen", "Haddad", "Novak", "Mensah", "Sato",
];
const SOURCES: &[&str] = &[
    "website",
    "Physics wallah",
    "referral",
    "facebook ads",
    "walk-in",
];
const BAD: &[(&str, &str)] = &[
    ("1-800-FLOWERS", "letters"),
    ("12345", "too short"),
    ("+1 212 555 0199 88 77 66", "too long"),
    ("", "missing"),
    ("+1 011 555 0100", "invalid for its region"),
];

pub fn generate(rows: usize) -> File {
    let mut rng = Rng(0x5eed_1ead);
    let mut csv = String::from("Phone,Name,Email,WhatsApp Number,Source,Timezone\n");
    let (mut bad, mut duplicates) = (0, 0);
    let mut written: Vec<String> = Vec::new();
    for i in 0..rows {
        let name = format!(
            "{} {}",
            FIRST[rng.below(FIRST.len() as u64) as usize],
            LAST[rng.below(LAST.len() as u64) as usize]
        );
        let source = SOURCES[rng.below(SOURCES.len() as u64) as usize];
        let roll = rng.below(100);
        let phone = if roll < 3 {
            bad += 1;
            BAD[i % BAD.len()].0.to_owned()
        } else if roll < 5 && !written.is_empty() {
            duplicates += 1;
            let earlier = &written[rng.below(written.len() as u64) as usize];
            earlier.replace(' ', "-")
        } else {
            let n = 1000 + i as u64;
            let spelled = match i % 4 {
                0 => format!("+1 (212) 555-{n:04}"),
                1 => format!("212.555.{n:04}"),
                2 => format!("+91 98{:03} {:05}", n % 1000, 10000 + n),
                _ => format!("0044 (0)20 7946 {n:04}"),
            };
            written.push(spelled.clone());
            spelled
        };
        let email = if roll == 99 {
            "not-an-email".to_owned()
        } else {
            format!("lead{i}@example.com")
        };
        if roll == 99 {
            bad += 1;
        }
        let zone = if i % 10 == 0 { "America/Chicago" } else { "" };
        let whatsapp = if i % 3 == 0 && !phone.is_empty() {
            phone.clone()
        } else {
            String::new()
        };
        csv.push_str(&format!(
            "\"{phone}\",\"{name}\",{email},\"{whatsapp}\",{source},{zone}\n"
        ));
    }
    File {
        csv,
        rows,
        bad,
        duplicates,
    }
}
