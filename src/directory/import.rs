//! Importer: the ANS extraction `Extraction_Correspondance_MSSante` (UTF-8, `|`-separated,
//! one header line, 31 columns) to LDIF for the shipped schema, streaming line by line.
//!
//! Header names vary between versions ("Code postal" / "Code postal structure BAL"), so
//! columns are found by a folded name. Rejected lines go to the report with their line
//! number and reason; unlisted ("liste rouge") entries and duplicate addresses are
//! skipped and counted.

use std::collections::HashSet;
use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

use super::config::AttributeMap;
use super::entry::DirEntry;
use super::ldif::write_attr;
use super::normalize::header_key;

/// Default base DN of the annuaire (documented in `deploy/ldap/README.md`).
pub const DEFAULT_BASE_DN: &str = "ou=annuaire,dc=mssante,dc=fr";

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Entries are written as `mail=<address>,<base_dn>`.
    pub base_dn: String,
    /// Also write the base entry itself (its parent must exist).
    pub with_base_entry: bool,
    pub attributes: AttributeMap,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            base_dn: DEFAULT_BASE_DN.into(),
            with_base_entry: false,
            attributes: AttributeMap::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Data lines read (header excluded).
    pub lines: u64,
    pub written: u64,
    pub rejected: u64,
    pub unlisted: u64,
    pub duplicates: u64,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("fichier vide: pas de ligne d'en-tête")]
    NoHeader,
    #[error("en-tête: colonne obligatoire absente: {0}")]
    MissingColumn(&'static str),
    #[error("base DN invalide: {0}")]
    BadBaseDn(String),
    #[error("correspondance d'attributs: {0}")]
    BadMapping(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The columns the importer reads, with the folded header names that designate them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    TypeBal,
    Mail,
    IdType,
    IdPP,
    IdNat,
    StructureId,
    Service,
    Civility,
    LastName,
    FirstName,
    ProfessionCode,
    Profession,
    SpecialtyCode,
    Specialty,
    Structure,
    Tradename,
    NumVoie,
    ComplNumVoie,
    TypeVoie,
    LibVoie,
    Acheminement,
    PostalCode,
    Department,
    Country,
    Unlisted,
}

fn column_of(header: &str) -> Option<Col> {
    let k = header_key(header);
    let k = k.strip_suffix("structurebal").unwrap_or(&k);
    Some(match k {
        "typedebal" | "typebal" => Col::TypeBal,
        "adressebal" | "adresse" | "mail" => Col::Mail,
        "typeidentifiantpp" => Col::IdType,
        "identifiantpp" => Col::IdPP,
        "identificationnationalepp" => Col::IdNat,
        "identificationstructure" | "identifiantstructure" => Col::StructureId,
        "servicederattachement" => Col::Service,
        "civilitedexercice" | "civilite" => Col::Civility,
        "nomdexercice" | "nom" => Col::LastName,
        "prenomdexercice" | "prenom" => Col::FirstName,
        "codeprofession" => Col::ProfessionCode,
        "libelleprofession" => Col::Profession,
        "codesavoirfaire" => Col::SpecialtyCode,
        "libellesavoirfaire" => Col::Specialty,
        "raisonsociale" => Col::Structure,
        "enseignecommerciale" => Col::Tradename,
        "l4numerovoie" => Col::NumVoie,
        "l4complementnumerovoie" => Col::ComplNumVoie,
        "nl4typevoie" | "l4typevoie" => Col::TypeVoie,
        "l4libellevoie" => Col::LibVoie,
        "l6ligneacheminement" => Col::Acheminement,
        "codepostal" => Col::PostalCode,
        "departement" => Col::Department,
        "pays" => Col::Country,
        "listerouge" => Col::Unlisted,
        _ => return None,
    })
}

/// Converts an extraction to LDIF. See the module comment.
pub fn import_extraction(
    mut input: impl BufRead,
    mut out: impl Write,
    mut report: impl Write,
    opts: &ImportOptions,
) -> Result<ImportStats, ImportError> {
    let started = Instant::now();
    opts.attributes
        .validate()
        .map_err(ImportError::BadMapping)?;
    if opts.base_dn.trim().is_empty() || !opts.base_dn.contains('=') {
        return Err(ImportError::BadBaseDn(opts.base_dn.clone()));
    }
    let mut buf = Vec::with_capacity(1024);
    if input.read_until(b'\n', &mut buf)? == 0 {
        return Err(ImportError::NoHeader);
    }
    let header = String::from_utf8_lossy(&buf);
    let header = header
        .trim_start_matches('\u{feff}')
        .trim_end_matches(['\r', '\n']);
    let cols: Vec<Option<Col>> = header.split('|').map(column_of).collect();
    if !cols.contains(&Some(Col::Mail)) {
        return Err(ImportError::MissingColumn("Adresse BAL"));
    }
    let width = cols.len();
    if opts.with_base_entry {
        write_base_entry(&mut out, &opts.base_dn)?;
    }
    let mut stats = ImportStats::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut line_no = 1u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let raw = match std::str::from_utf8(&buf) {
            Ok(s) => s.trim_end_matches(['\r', '\n']),
            Err(_) => {
                stats.lines += 1;
                stats.rejected += 1;
                writeln!(report, "ligne {line_no}: rejetée: texte non UTF-8")?;
                continue;
            }
        };
        if raw.trim().is_empty() {
            continue;
        }
        stats.lines += 1;
        let fields: Vec<&str> = raw.split('|').collect();
        if fields.len() != width {
            stats.rejected += 1;
            writeln!(
                report,
                "ligne {line_no}: rejetée: {} colonnes au lieu de {width}",
                fields.len()
            )?;
            continue;
        }
        let (entry, unlisted) = match parse_row(&cols, &fields) {
            Ok(e) => e,
            Err(reason) => {
                stats.rejected += 1;
                writeln!(report, "ligne {line_no}: rejetée: {reason}")?;
                continue;
            }
        };
        if unlisted {
            stats.unlisted += 1;
            continue;
        }
        if !seen.insert(entry.mail.to_ascii_lowercase()) {
            stats.duplicates += 1;
            writeln!(
                report,
                "ligne {line_no}: doublon ignoré: {} (première occurrence conservée)",
                entry.mail
            )?;
            continue;
        }
        write_entry(&mut out, &entry, opts)?;
        stats.written += 1;
    }
    out.flush()?;
    stats.elapsed = started.elapsed();
    writeln!(
        report,
        "bilan: {} lignes, {} entrées écrites, {} rejetées, {} en liste rouge, {} doublons",
        stats.lines, stats.written, stats.rejected, stats.unlisted, stats.duplicates
    )?;
    report.flush()?;
    Ok(stats)
}

fn parse_row(cols: &[Option<Col>], fields: &[&str]) -> Result<(DirEntry, bool), String> {
    let mut e = DirEntry::default();
    let (mut num, mut compl, mut typ, mut lib) = ("", "", "", "");
    let (mut id_type, mut acheminement, mut tradename) = ("", "", "");
    let mut unlisted = false;
    for (col, raw) in cols.iter().zip(fields) {
        let v = raw.trim();
        let Some(col) = col else { continue };
        match col {
            Col::TypeBal => e.mailbox_type = v.to_ascii_uppercase(),
            Col::Mail => e.mail = v.to_string(),
            Col::IdType => id_type = v,
            Col::IdPP => e.id_pp = v.to_string(),
            Col::IdNat => e.id_nat = v.to_string(),
            Col::StructureId => e.structure_id = v.to_string(),
            Col::Service => e.service = v.to_string(),
            Col::Civility => e.civility = v.to_string(),
            Col::LastName => e.last_name = v.to_string(),
            Col::FirstName => e.first_name = v.to_string(),
            Col::ProfessionCode => e.profession_code = v.to_string(),
            Col::Profession => e.profession = v.to_string(),
            Col::SpecialtyCode => e.specialty_code = v.to_string(),
            Col::Specialty => e.specialty = v.to_string(),
            Col::Structure => e.structure = v.to_string(),
            Col::Tradename => tradename = v,
            Col::NumVoie => num = v,
            Col::ComplNumVoie => compl = v,
            Col::TypeVoie => typ = v,
            Col::LibVoie => lib = v,
            Col::Acheminement => acheminement = v,
            Col::PostalCode => e.postal_code = v.to_string(),
            Col::Department => e.department = v.to_string(),
            Col::Country => e.country = v.to_string(),
            Col::Unlisted => {
                unlisted = matches!(
                    v.to_ascii_lowercase().as_str(),
                    "o" | "oui" | "1" | "true" | "vrai"
                )
            }
        }
    }
    if e.mail.is_empty() {
        return Err("adresse BAL vide".into());
    }
    if !valid_mail(&e.mail) {
        return Err(format!("adresse BAL invalide: {:?}", e.mail));
    }
    if !matches!(e.mailbox_type.as_str(), "PER" | "ORG" | "APP" | "CAB" | "") {
        return Err(format!("type de BAL inconnu: {:?}", e.mailbox_type));
    }
    if e.structure.is_empty() {
        e.structure = tradename.to_string();
    }
    if e.mailbox_type.is_empty() {
        // The schema requires a type: a box tied to a person is personal.
        e.mailbox_type = if e.id_pp.is_empty() && e.id_nat.is_empty() {
            "ORG"
        } else {
            "PER"
        }
        .into();
    }
    e.street = [num, compl, typ, lib]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    e.city = city_of(acheminement, &e.postal_code);
    fill_ids(&mut e, id_type)?;
    Ok((e, unlisted))
}

/// RPPS (type 8, 11 digits) and ADELI (type 0, 9 digits); the national id is the type
/// digit followed by the id (mssante-psc.md §1.7).
fn fill_ids(e: &mut DirEntry, id_type: &str) -> Result<(), String> {
    if e.id_pp.is_empty() && e.id_nat.len() > 1 {
        e.id_pp = e.id_nat[1..].to_string();
    }
    if e.id_pp.is_empty() {
        return Ok(());
    }
    if !e.id_pp.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("identifiant PP non numérique: {:?}", e.id_pp));
    }
    if e.id_nat.is_empty() {
        let prefix = match (id_type, e.id_pp.len()) {
            ("8", _) | ("", 11) => "8",
            ("0", _) | ("", 9) => "0",
            _ => id_type,
        };
        e.id_nat = format!("{prefix}{}", e.id_pp);
    }
    Ok(())
}

/// `L6LIGNEACHEMINEMENT` is "75009 PARIS" or "44093 NANTES CEDEX 1": drop the postal
/// code and the CEDEX part.
fn city_of(acheminement: &str, postal_code: &str) -> String {
    let mut s = acheminement.trim();
    if let Some(rest) = s
        .strip_prefix(postal_code)
        .filter(|_| !postal_code.is_empty())
    {
        s = rest.trim_start();
    } else if s.len() > 6
        && s.as_bytes()[..5].iter().all(u8::is_ascii_digit)
        && s.as_bytes()[5] == b' '
    {
        s = &s[6..];
    }
    let upper = s.to_uppercase();
    match upper.find(" CEDEX") {
        Some(i) => s[..i].trim().to_string(),
        None => s.to_string(),
    }
}

fn valid_mail(m: &str) -> bool {
    let Some((local, domain)) = m.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !m
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"|".contains(c))
}

fn write_entry(out: &mut impl Write, e: &DirEntry, opts: &ImportOptions) -> io::Result<()> {
    let dn = format!(
        "{}={},{}",
        opts.attributes.mail,
        ldap3::dn_escape(e.mail.as_str()),
        opts.base_dn
    );
    write_attr(out, "dn", &dn)?;
    for (k, v) in e.to_ldap_attrs(&opts.attributes) {
        write_attr(out, &k, &v)?;
    }
    // Records end with a blank line. No `version:` line: slapadd does not accept one.
    writeln!(out)
}

/// The base entry, with a structural class matching its RDN type.
fn write_base_entry(out: &mut impl Write, base_dn: &str) -> io::Result<()> {
    let first = base_dn.split(',').next().unwrap_or_default();
    let (ty, val) = first.split_once('=').unwrap_or(("ou", first));
    write_attr(out, "dn", base_dn)?;
    match ty.trim().to_ascii_lowercase().as_str() {
        "dc" => {
            write_attr(out, "objectClass", "dcObject")?;
            write_attr(out, "objectClass", "organization")?;
            write_attr(out, "o", val)?;
        }
        "o" => write_attr(out, "objectClass", "organization")?,
        _ => write_attr(out, "objectClass", "organizationalUnit")?,
    }
    write_attr(out, ty.trim(), val)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::ldif::read_entries;

    pub(crate) const HEADER: &str = "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie profession|Libellé de catégorie profession|Code Profession|Libellé Profession|Code savoir-faire|Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|L3COMPLEMENTDISTRIBUTION|L4NUMEROVOIE|L4COMPLEMENTNUMEROVOIE|NL4TYPEVOIE|L4LIBELLEVOIE|L5LIEUDITMENTION|L6LIGNEACHEMINEMENT|Code postal structure BAL|Département structure BAL|Pays structure BAL";

    fn row(mail: &str, nom: &str, prenom: &str) -> String {
        format!("PER|{mail}|8|10103197363|810103197363|1|440000289|Cardiologie|M|{nom}|{prenom}|C|Civil|10|Médecin|SM04|Cardiologie et maladies vasculaires|O|CHU DE NANTES|||Hôpital Hôtel-Dieu|1||PL|ALEXIS RICORDEAU||44093 NANTES CEDEX 1|44093|Loire-Atlantique|France")
    }

    fn run(text: &str) -> (ImportStats, String, String) {
        let (mut out, mut rep) = (Vec::new(), Vec::new());
        let s = import_extraction(
            text.as_bytes(),
            &mut out,
            &mut rep,
            &ImportOptions::default(),
        )
        .unwrap();
        (
            s,
            String::from_utf8(out).unwrap(),
            String::from_utf8(rep).unwrap(),
        )
    }

    #[test]
    fn converts_rows_and_keeps_accents() {
        let text = format!(
            "{HEADER}\n{}\n",
            row("helene.leclerc@chu-nantes.mssante.fr", "LECLÈRE", "Hélène")
        );
        let (s, ldif, _) = run(&text);
        assert_eq!((s.lines, s.written, s.rejected), (1, 1, 0));
        let es = read_entries(ldif.as_bytes()).unwrap();
        let e = &es[0];
        assert_eq!(
            e.dn,
            "mail=helene.leclerc@chu-nantes.mssante.fr,ou=annuaire,dc=mssante,dc=fr"
        );
        assert_eq!(e.attrs["givenname"], vec!["Hélène"]);
        assert_eq!(e.attrs["sn"], vec!["LECLÈRE"]);
        assert_eq!(e.attrs["mssantenormsn"], vec!["leclere"]);
        assert_eq!(e.attrs["l"], vec!["NANTES"]);
        assert_eq!(e.attrs["mssanteidnat"], vec!["810103197363"]);
        assert_eq!(e.attrs["street"], vec!["1 PL ALEXIS RICORDEAU"]);
        assert!(ldif.contains("givenName:: "));
    }

    #[test]
    fn reports_bad_lines_duplicates_and_unlisted() {
        let h = format!("{HEADER}|Liste rouge");
        let ok = format!("{}|N", row("a@x.mssante.fr", "A", "B"));
        let dup = format!("{}|N", row("A@x.mssante.fr", "A", "B"));
        let red = format!("{}|O", row("red@x.mssante.fr", "R", "S"));
        let bad_mail = format!("{}|N", row("not-a-mail", "A", "B"));
        let text = format!("{h}\n{ok}\n{dup}\nshort|line\n{red}\n{bad_mail}\n\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"PER|\xff\xfe|x\n");
        let (mut out, mut rep) = (Vec::new(), Vec::new());
        let s =
            import_extraction(&bytes[..], &mut out, &mut rep, &ImportOptions::default()).unwrap();
        let rep = String::from_utf8(rep).unwrap();
        assert_eq!(
            (s.lines, s.written, s.duplicates, s.unlisted, s.rejected),
            (6, 1, 1, 1, 3)
        );
        assert!(rep.contains("ligne 3: doublon"), "{rep}");
        assert!(
            rep.contains("ligne 4: rejetée: 2 colonnes au lieu de 32"),
            "{rep}"
        );
        assert!(
            rep.contains("ligne 6: rejetée: adresse BAL invalide"),
            "{rep}"
        );
        assert!(rep.contains("ligne 8: rejetée: texte non UTF-8"), "{rep}");
    }

    #[test]
    fn tolerant_headers_and_dn_escaping() {
        let h = HEADER
            .replace("Adresse BAL", "ADRESSE_BAL")
            .replace("Nom d'exercice", "nom d exercice");
        let text = format!(
            "{h}\n{}\n",
            row("o'brien+x@x.mssante.fr", "O'BRIEN", "Seán")
        );
        let (s, ldif, _) = run(&text);
        assert_eq!(s.written, 1);
        let es = read_entries(ldif.as_bytes()).unwrap();
        assert_eq!(
            es[0].dn,
            "mail=o'brien\\2bx@x.mssante.fr,ou=annuaire,dc=mssante,dc=fr"
        );
        assert_eq!(es[0].attrs["sn"], vec!["O'BRIEN"]);
    }

    #[test]
    fn header_without_address_is_refused() {
        let r = import_extraction(
            "a|b\n".as_bytes(),
            Vec::new(),
            Vec::new(),
            &ImportOptions::default(),
        );
        assert!(matches!(r, Err(ImportError::MissingColumn(_))));
    }

    #[test]
    fn city_strips_code_and_cedex() {
        assert_eq!(city_of("75009 PARIS", "75009"), "PARIS");
        assert_eq!(city_of("44093 NANTES CEDEX 1", "44093"), "NANTES");
        assert_eq!(city_of("SAINT-ÉTIENNE", ""), "SAINT-ÉTIENNE");
    }
}
